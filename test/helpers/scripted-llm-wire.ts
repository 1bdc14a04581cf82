/**
 * The scripted LLM's answers on the wire, in the providers' own formats: Anthropic Messages, OpenAI
 * Chat Completions and OpenAI Responses, each as one JSON body or as the server-sent events the
 * real APIs stream. Real CLIs (Claude Code, Codex, OpenCode) parse these streams, so the event
 * names, their order and their fields follow the official formats (the SDKs' RawMessageStreamEvent,
 * ChatCompletionChunk and ResponseStreamEvent types).
 */
import { randomBytes } from 'node:crypto';

/** One reply of the script, settled: ids drawn, stop reason and usage decided. */
export interface WireReply {
  model: string;
  text?: string;
  toolCalls: WireToolCall[];
  stop: 'end' | 'tool_use' | 'max_tokens';
  usage: { inputTokens: number; outputTokens: number } | null;
}

export interface WireToolCall {
  name: string;
  /** What the model "wrote" as the arguments: JSON text, or (for a raw string step) anything. */
  argumentsText: string;
  /** The Anthropic `input` value: the object, or the raw string itself. */
  input: unknown;
}

export function wireId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

/** Streams deliver text and arguments in pieces, as models do, so clients must join them. */
export function pieces(text: string, size = 8): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size));
  return out;
}

function sse(event: string | undefined, data: unknown): string {
  const json = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event ? `event: ${event}\n` : ''}data: ${json}\n\n`;
}

// ---------------------------------------------------------------- Anthropic Messages

function anthropicUsage(usage: WireReply['usage']) {
  if (!usage) return undefined;
  return {
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
}

function anthropicStop(stop: WireReply['stop']): string {
  return stop === 'end' ? 'end_turn' : stop;
}

export function anthropicMessage(reply: WireReply) {
  const content: unknown[] = [];
  if (reply.text !== undefined) content.push({ type: 'text', text: reply.text, citations: null });
  for (const call of reply.toolCalls) content.push({ type: 'tool_use', id: wireId('toolu_'), name: call.name, input: call.input });
  const usage = anthropicUsage(reply.usage);
  return {
    id: wireId('msg_'),
    type: 'message',
    role: 'assistant',
    model: reply.model,
    content,
    stop_reason: anthropicStop(reply.stop),
    stop_sequence: null,
    ...(usage ? { usage } : {}),
  };
}

/**
 * message_start (input usage), then per block content_block_start / content_block_delta
 * (text_delta or input_json_delta) / content_block_stop, then message_delta (stop reason and the
 * cumulative output usage) and message_stop; a ping after message_start as the API sends one.
 */
export function anthropicEvents(reply: WireReply): string[] {
  const usage = anthropicUsage(reply.usage);
  const events: string[] = [];
  events.push(
    sse('message_start', {
      type: 'message_start',
      message: {
        id: wireId('msg_'),
        type: 'message',
        role: 'assistant',
        model: reply.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        ...(usage ? { usage: { ...usage, output_tokens: 1 } } : {}),
      },
    }),
  );
  events.push(sse('ping', { type: 'ping' }));
  let index = 0;
  if (reply.text !== undefined) {
    events.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
    for (const piece of pieces(reply.text)) {
      events.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }));
    }
    events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
    index++;
  }
  for (const call of reply.toolCalls) {
    events.push(
      sse('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: wireId('toolu_'), name: call.name, input: {} },
      }),
    );
    // The input streams as JSON text; a raw-string step streams as a JSON string, as its `input` is.
    for (const piece of pieces(JSON.stringify(call.input))) {
      events.push(
        sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } }),
      );
    }
    events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
    index++;
  }
  events.push(
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: anthropicStop(reply.stop), stop_sequence: null },
      usage: { output_tokens: reply.usage?.outputTokens ?? 0 },
    }),
  );
  events.push(sse('message_stop', { type: 'message_stop' }));
  return events;
}

// ---------------------------------------------------------------- OpenAI Chat Completions

function chatFinish(stop: WireReply['stop']): string {
  return stop === 'tool_use' ? 'tool_calls' : stop === 'max_tokens' ? 'length' : 'stop';
}

function chatUsage(usage: WireReply['usage']) {
  if (!usage) return undefined;
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

export function chatCompletion(reply: WireReply) {
  const calls = reply.toolCalls.map((call) => ({
    id: wireId('call_'),
    type: 'function',
    function: { name: call.name, arguments: call.argumentsText },
  }));
  const usage = chatUsage(reply.usage);
  return {
    id: wireId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: reply.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: reply.text ?? null,
          refusal: null,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
        finish_reason: chatFinish(reply.stop),
        logprobs: null,
      },
    ],
    ...(usage ? { usage } : {}),
  };
}

/**
 * chat.completion.chunk events: the role first, then content pieces, then each tool call (id and
 * name in its first delta, the arguments after), a chunk with the finish reason, and, when the
 * request asked for stream_options.include_usage, a last chunk with no choices and the usage
 * (earlier chunks then carry `usage: null`); then `data: [DONE]`.
 */
export function chatEvents(reply: WireReply, includeUsage: boolean): string[] {
  const id = wireId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    sse(undefined, {
      id,
      object: 'chat.completion.chunk',
      created,
      model: reply.model,
      system_fingerprint: null,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    });
  const delta = (value: Record<string, unknown>, finish: string | null = null) => ({
    index: 0,
    delta: value,
    logprobs: null,
    finish_reason: finish,
  });
  const events: string[] = [];
  events.push(chunk([delta({ role: 'assistant', content: reply.text === undefined ? null : '', refusal: null })]));
  for (const piece of pieces(reply.text ?? '')) events.push(chunk([delta({ content: piece })]));
  reply.toolCalls.forEach((call, index) => {
    events.push(
      chunk([
        delta({ tool_calls: [{ index, id: wireId('call_'), type: 'function', function: { name: call.name, arguments: '' } }] }),
      ]),
    );
    for (const piece of pieces(call.argumentsText)) {
      events.push(chunk([delta({ tool_calls: [{ index, function: { arguments: piece } }] })]));
    }
  });
  events.push(chunk([delta({}, chatFinish(reply.stop))]));
  const usage = chatUsage(reply.usage);
  if (includeUsage) events.push(chunk([], { usage: usage ?? null }));
  events.push(sse(undefined, '[DONE]'));
  return events;
}

// ---------------------------------------------------------------- OpenAI Responses

interface ResponsesItems {
  /** The finished output items, as `output` of the response. */
  done: Array<Record<string, unknown>>;
}

function responsesUsage(usage: WireReply['usage']) {
  if (!usage) return null;
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

function outputItems(reply: WireReply): ResponsesItems {
  const done: Array<Record<string, unknown>> = [];
  if (reply.text !== undefined) {
    done.push({
      id: wireId('msg_'),
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: reply.text, annotations: [], logprobs: [] }],
    });
  }
  for (const call of reply.toolCalls) {
    done.push({
      id: wireId('fc_'),
      type: 'function_call',
      status: 'completed',
      call_id: wireId('call_'),
      name: call.name,
      arguments: call.argumentsText,
    });
  }
  return { done };
}

function responseObject(
  reply: WireReply,
  request: any,
  base: { id: string; createdAt: number },
  status: 'in_progress' | 'completed' | 'incomplete',
  output: unknown[],
) {
  return {
    id: base.id,
    object: 'response',
    created_at: base.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: request?.instructions ?? null,
    max_output_tokens: request?.max_output_tokens ?? null,
    model: reply.model,
    output,
    parallel_tool_calls: request?.parallel_tool_calls ?? true,
    previous_response_id: request?.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: request?.store ?? true,
    temperature: request?.temperature ?? 1,
    text: { format: { type: 'text' } },
    tool_choice: request?.tool_choice ?? 'auto',
    tools: request?.tools ?? [],
    top_p: request?.top_p ?? 1,
    truncation: 'disabled',
    usage: status === 'in_progress' ? null : responsesUsage(reply.usage),
    user: null,
    metadata: request?.metadata ?? {},
  };
}

function finalStatus(reply: WireReply): 'completed' | 'incomplete' {
  return reply.stop === 'max_tokens' ? 'incomplete' : 'completed';
}

export function responsesBody(reply: WireReply, request: any) {
  const base = { id: wireId('resp_'), createdAt: Math.floor(Date.now() / 1000) };
  return responseObject(reply, request, base, finalStatus(reply), outputItems(reply).done);
}

/**
 * response.created and response.in_progress; per output item response.output_item.added, then
 * for a message response.content_part.added / response.output_text.delta… / response.output_text.done
 * / response.content_part.done, for a function call response.function_call_arguments.delta… /
 * .done; response.output_item.done; last response.completed (response.incomplete when the reply
 * ran out of tokens) with the whole response and its usage. Every event carries its
 * sequence_number; there is no [DONE].
 */
export function responsesEvents(reply: WireReply, request: any): string[] {
  const base = { id: wireId('resp_'), createdAt: Math.floor(Date.now() / 1000) };
  const { done } = outputItems(reply);
  let sequence = 0;
  const events: string[] = [];
  const emit = (type: string, fields: Record<string, unknown>) => {
    events.push(sse(type, { type, sequence_number: sequence++, ...fields }));
  };
  emit('response.created', { response: responseObject(reply, request, base, 'in_progress', []) });
  emit('response.in_progress', { response: responseObject(reply, request, base, 'in_progress', []) });
  done.forEach((item, outputIndex) => {
    const itemId = item.id as string;
    if (item.type === 'message') {
      const text = reply.text ?? '';
      emit('response.output_item.added', {
        output_index: outputIndex,
        item: { ...item, status: 'in_progress', content: [] },
      });
      const emptyPart = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      emit('response.content_part.added', { item_id: itemId, output_index: outputIndex, content_index: 0, part: emptyPart });
      for (const piece of pieces(text)) {
        emit('response.output_text.delta', {
          item_id: itemId,
          output_index: outputIndex,
          content_index: 0,
          delta: piece,
          logprobs: [],
        });
      }
      emit('response.output_text.done', { item_id: itemId, output_index: outputIndex, content_index: 0, text, logprobs: [] });
      emit('response.content_part.done', {
        item_id: itemId,
        output_index: outputIndex,
        content_index: 0,
        part: { ...emptyPart, text },
      });
    } else {
      const argumentsText = item.arguments as string;
      emit('response.output_item.added', {
        output_index: outputIndex,
        item: { ...item, status: 'in_progress', arguments: '' },
      });
      for (const piece of pieces(argumentsText)) {
        emit('response.function_call_arguments.delta', { item_id: itemId, output_index: outputIndex, delta: piece });
      }
      emit('response.function_call_arguments.done', {
        item_id: itemId,
        output_index: outputIndex,
        name: item.name,
        arguments: argumentsText,
      });
    }
    emit('response.output_item.done', { output_index: outputIndex, item });
  });
  const status = finalStatus(reply);
  emit(status === 'completed' ? 'response.completed' : 'response.incomplete', {
    response: responseObject(reply, request, base, status, done),
  });
  return events;
}
