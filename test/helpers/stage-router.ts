import type { RecordedRequest, ScriptedResponse, startScriptedLLM } from './scripted-llm-server.js';

// A scripted LLM for whole-pipeline tests, and shorthands for the answers they script.

export type ScriptedLLM = Awaited<ReturnType<typeof startScriptedLLM>>;
export type Stage = 'decompose' | 'plan' | 'verify' | 'review' | 'agent';
export type Answer = ScriptedResponse | ((request: RecordedRequest) => ScriptedResponse);

const STAGE_TOOLS: Record<string, Stage> = {
  submit_decomposition: 'decompose',
  submit_plan: 'plan',
  submit_verification: 'verify',
  submit_review: 'review',
};
export const ALL_STAGES = 'setup,index,decompose,plan,code,verify,review';

export function toolNames(request: RecordedRequest): string[] {
  const tools = (request.body?.tools ?? []) as Array<{ name?: string; function?: { name?: string } }>;
  return tools.map((tool) => tool.name ?? tool.function?.name ?? '');
}

/** All the text the model was sent: system prompt and messages. */
export function textOf(request: RecordedRequest): string {
  return JSON.stringify([request.body?.system, request.body?.messages]);
}

/**
 * Answers each request from the queue of the stage that sent it, told apart by the one structured
 * tool a stage offers (the agent offers its own tools). Decompose, plan and review have defaults.
 */
export function stageRouter(queues: Partial<Record<Stage, Answer[]>>) {
  const log: Array<{ stage: Stage; request: RecordedRequest }> = [];
  const defaults: Record<Exclude<Stage, 'agent'>, ScriptedResponse> = {
    decompose: { toolCalls: [{ name: 'submit_decomposition', arguments: { steps: [{ title: 'Do the task', description: 'All of it.' }] } }] },
    plan: {
      toolCalls: [{ name: 'submit_plan', arguments: { files: ['x'], approach: 'PLAN-APPROACH-MARKER edit the file', testing: 'run the tests', risks: [] } }],
    },
    verify: {
      toolCalls: [
        {
          name: 'submit_verification',
          arguments: { passed: false, summary: 'VERIFIER-MARKER a check failed.', failures: [{ check: 'the failing check', problem: 'see the output' }] },
        },
      ],
    },
    review: { toolCalls: [{ name: 'submit_review', arguments: { verdict: 'approve', summary: 'Looks right.', objections: [] } }] },
  };
  const step = (request: RecordedRequest): ScriptedResponse => {
    const stage = toolNames(request).map((name) => STAGE_TOOLS[name]).find(Boolean) ?? 'agent';
    log.push({ stage, request });
    const queue = queues[stage];
    const answer = queue && queue.length > 0 ? queue.shift()! : stage === 'agent' ? undefined : defaults[stage];
    if (!answer) return { status: 400, body: { error: { message: `no scripted answer left for ${stage}` } } };
    return typeof answer === 'function' ? answer(request) : answer;
  };
  return {
    log,
    script: Array.from({ length: 200 }, () => step),
    requests: (stage: Stage) => log.filter((entry) => entry.stage === stage).map((entry) => entry.request),
  };
}

export const write = (path: string, content: string): ScriptedResponse => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });
export const finish = (summary: string): ScriptedResponse => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
export const steps = (...titles: string[]): ScriptedResponse => ({
  toolCalls: [{ name: 'submit_decomposition', arguments: { steps: titles.map((title) => ({ title, description: `Do ${title}.` })) } }],
});
export const review = (verdict: 'approve' | 'request_changes', problem?: string): ScriptedResponse => ({
  toolCalls: [
    {
      name: 'submit_review',
      arguments: { verdict, summary: `Verdict ${verdict}.`, objections: problem ? [{ file: 'hello.txt', problem, suggestion: 'fix it' }] : [] },
    },
  ],
});

