import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { describe, expect, it } from 'vitest';
import { checkActor } from '../../src/github/check-actor.js';
import { parseCommand } from '../../src/github/parse-command.js';
import { parseTrigger, type ParseTriggerOptions } from '../../src/github/parse-trigger.js';
import type { Trigger } from '../../src/github/trigger.js';
import { example, fixture } from '../fixtures/github/index.js';

const options: ParseTriggerOptions = { triggerLabel: 'telecoder', appSlug: 'telecoder-app' };
const parse = (name: string, payload: unknown, extra: Partial<ParseTriggerOptions> = {}): Trigger =>
  parseTrigger({ name, payload }, { ...options, ...extra });

function expectIgnored(trigger: Trigger, reason: RegExp): void {
  expect(trigger.kind).toBe('ignored');
  if (trigger.kind === 'ignored') expect(trigger.reason).toMatch(reason);
}

const helloWorld = { owner: 'Codertocat', name: 'Hello-World' };
const codertocat = { login: 'Codertocat', type: 'User' };

function labeled(label: string) {
  const payload = example('issues', 'labeled');
  payload.label = { ...payload.label!, name: label };
  return payload;
}

function comment(body: string, onPullRequest = false) {
  const payload = example('issue_comment', 'created');
  payload.comment.body = body;
  if (onPullRequest) payload.issue.pull_request = { url: 'https://api.github.com/repos/Codertocat/Hello-World/pulls/1' };
  return payload;
}

function reviewComment(headRef = 'telecoder/3f9c2a1e') {
  const payload = example('pull_request_review_comment', 'created');
  payload.pull_request.head.ref = headRef;
  return payload;
}

function review(state: string, body: string | null, headRef = 'telecoder/3f9c2a1e') {
  const payload = example('pull_request_review', 'submitted');
  payload.pull_request.head.ref = headRef;
  (payload.review as { state: string }).state = state;
  payload.review.body = body;
  return payload;
}

describe('parseTrigger: issues', () => {
  it('labelling an issue with the trigger label (any case) is an issue task as of the label time', () => {
    const payload = labeled('TeleCoder');
    expect(parse('issues', payload)).toEqual({
      kind: 'issue-task',
      cause: 'labeled',
      repo: helloWorld,
      actor: codertocat,
      triggerAt: '2019-05-15T15:20:18.000Z',
      issueNumber: 1,
      title: 'Spelling error in the README file',
      body: "It looks like you accidently spelled 'commit' with two 't's.",
    });
  });

  it('uses a configured label and ignores any other label', () => {
    expect(parse('issues', labeled('agent'), { triggerLabel: 'Agent' }).kind).toBe('issue-task');
    expectIgnored(parse('issues', labeled('bug')), /label "bug" is not the trigger label "telecoder"/);
  });

  it('accepts the event name with its action, and ignores a name that contradicts the payload', () => {
    expect(parse('issues.labeled', labeled('telecoder')).kind).toBe('issue-task');
    expectIgnored(parse('issues.opened', labeled('telecoder')), /action is "labeled"/);
  });

  it('opening an issue that already carries the label is an issue task as of its creation', () => {
    const payload = example('issues', 'opened');
    payload.issue.labels = [...(payload.issue.labels ?? []), { ...payload.issue.labels![0]!, name: 'telecoder' }];
    payload.issue.created_at = '2024-05-01T10:00:00+02:00';
    const trigger = parse('issues', payload);
    expect(trigger).toMatchObject({ kind: 'issue-task', cause: 'opened', issueNumber: 1, triggerAt: '2024-05-01T08:00:00.000Z' });
  });

  it('ignores an opened issue without the label, an unlabel, an edit and other actions', () => {
    expectIgnored(parse('issues', example('issues', 'opened')), /does not carry the trigger label "telecoder"/);
    const unlabeled = example('issues', 'unlabeled');
    unlabeled.label = { ...unlabeled.label!, name: 'telecoder' };
    expectIgnored(parse('issues', unlabeled), /issues\.unlabeled: not an event TeleCoder acts on/);
    expectIgnored(parse('issues', example('issues', 'edited')), /issues\.edited: not an event/);
    expectIgnored(parse('issues', example('issues', 'deleted')), /issues\.deleted: not an event/);
  });

  it('ignores a label event on a pull request', () => {
    const payload = labeled('telecoder');
    payload.issue.pull_request = { url: 'https://api.github.com/repos/Codertocat/Hello-World/pulls/1' };
    expectIgnored(parse('issues', payload), /#1 is a pull request/);
  });
});

describe('parseTrigger: issue comments', () => {
  it('/telecoder <instruction> on an issue is a comment task carrying the issue as of the comment', () => {
    const trigger = parse('issue_comment', comment('/telecoder add a test for the typo\n\nand fix it'));
    expect(trigger).toEqual({
      kind: 'comment-task',
      repo: helloWorld,
      actor: codertocat,
      triggerAt: '2019-05-15T15:20:21.000Z',
      issueNumber: 1,
      title: 'Spelling error in the README file',
      body: "It looks like you accidently spelled 'commit' with two 't's.",
      instruction: 'add a test for the typo\n\nand fix it',
      commentId: 492700400,
    });
  });

  it('a bare /telecoder (leading whitespace allowed) makes the issue itself the task', () => {
    const trigger = parse('issue_comment', comment('  \n/telecoder  \n'));
    expect(trigger.kind).toBe('comment-task');
    expect(trigger).not.toHaveProperty('instruction');
  });

  it('only the command as a word at the start counts; a custom prefix replaces it', () => {
    expectIgnored(parse('issue_comment', comment('/telecoderx do it')), /does not start with \/telecoder/);
    expectIgnored(parse('issue_comment', comment('please /telecoder do it')), /does not start with/);
    expectIgnored(parse('issue_comment', comment("You are totally right! I'll get this fixed right away.")), /does not start with/);
    expect(parse('issue_comment', comment('/TeleCoder do it')).kind).toBe('comment-task');
    expect(parse('issue_comment', comment('/agent do it'), { commandPrefix: '/agent' })).toMatchObject({ instruction: 'do it' });
    expectIgnored(parse('issue_comment', comment('/telecoder do it'), { commandPrefix: '/agent' }), /does not start with \/agent/);
  });

  it('/telecoder on a pull request is a revision of it; the head branch is left for the handler to check', () => {
    const trigger = parse('issue_comment', comment('/telecoder rename the helper', true));
    expect(trigger).toEqual({
      kind: 'pr-revision',
      repo: helloWorld,
      actor: codertocat,
      triggerAt: '2019-05-15T15:20:21.000Z',
      prNumber: 1,
      title: 'Spelling error in the README file',
      instruction: 'rename the helper',
      source: { type: 'issue-comment', id: 492700400 },
    });
  });

  it('ignores /telecoder on a closed pull request, and edited or deleted comments', () => {
    const closed = comment('/telecoder rename it', true);
    closed.issue.state = 'closed';
    expectIgnored(parse('issue_comment', closed), /pull request #1 is closed/);
    const edited = example('issue_comment', 'edited');
    edited.comment.body = '/telecoder do it';
    expectIgnored(parse('issue_comment', edited), /issue_comment\.edited: not an event/);
    const deleted = example('issue_comment', 'deleted');
    deleted.comment.body = '/telecoder do it';
    expectIgnored(parse('issue_comment', deleted), /issue_comment\.deleted: not an event/);
  });

  it('carries the installation id when the payload names one', () => {
    const payload = example('issue_comment', 'created', 3);
    payload.comment.body = '/telecoder go';
    expect(parse('issue_comment', payload)).toMatchObject({ kind: 'comment-task', installationId: payload.installation!.id });
  });
});

describe('parseTrigger: pull request reviews', () => {
  it('a review comment on a TeleCoder pull request is a revision; its body is the instruction', () => {
    const trigger = parse('pull_request_review_comment', reviewComment());
    expect(trigger).toEqual({
      kind: 'pr-revision',
      repo: helloWorld,
      actor: codertocat,
      triggerAt: '2019-05-15T15:20:37.000Z',
      prNumber: 2,
      title: 'Update the README with new information.',
      instruction: 'Maybe you should use more emoji on this line.',
      headRef: 'telecoder/3f9c2a1e',
      source: { type: 'review-comment', id: 284312630, reviewId: 237895671 },
      reviewComment: {
        path: 'README.md',
        line: null,
        diffHunk: '@@ -1 +1 @@\n-# Hello-World',
        body: 'Maybe you should use more emoji on this line.',
      },
    });
  });

  it('a reply in a review thread keeps its line and the comment it answers; a leading command is dropped', () => {
    const payload = fixture('pull-request-review-comment.created.reply');
    payload.comment.body = '/telecoder Answer JSON here';
    expect(parse('pull_request_review_comment', payload)).toMatchObject({
      kind: 'pr-revision',
      prNumber: 42,
      instruction: 'Answer JSON here',
      installationId: 50123456,
      reviewComment: { path: 'src/server.ts', line: 14, inReplyToId: 1587699000 },
    });
  });

  it('ignores review comments on other pull requests, from forks, on closed ones, empty ones, and edits', () => {
    expectIgnored(parse('pull_request_review_comment', reviewComment('changes')), /#2 is not TeleCoder's \(head branch "changes"\)/);
    const fork = reviewComment();
    fork.pull_request.head.repo = { ...fork.pull_request.head.repo!, id: 999 };
    expectIgnored(parse('pull_request_review_comment', fork), /comes from another repository/);
    const deletedFork = reviewComment();
    (deletedFork.pull_request.head as { repo: unknown }).repo = null;
    expectIgnored(parse('pull_request_review_comment', deletedFork), /comes from another repository/);
    const closed = reviewComment();
    closed.pull_request.state = 'closed';
    expectIgnored(parse('pull_request_review_comment', closed), /#2 is closed/);
    const empty = reviewComment();
    empty.comment.body = '  ';
    expectIgnored(parse('pull_request_review_comment', empty), /review comment is empty/);
    const edited = example('pull_request_review_comment', 'edited');
    edited.pull_request.head.ref = 'telecoder/3f9c2a1e';
    expectIgnored(parse('pull_request_review_comment', edited), /pull_request_review_comment\.edited: not an event/);
  });

  it('a review requesting changes on a TeleCoder pull request is a revision', () => {
    expect(parse('pull_request_review', fixture('pull-request-review.submitted.changes-requested'))).toEqual({
      kind: 'pr-revision',
      repo: { owner: 'acme', name: 'widgets' },
      actor: { login: 'maintainer-mia', type: 'User' },
      triggerAt: '2024-05-02T09:14:27.000Z',
      installationId: 50123456,
      prNumber: 42,
      title: 'Add a /health endpoint',
      instruction: 'Please also handle the empty list case and add a test for it.',
      headRef: 'telecoder/3f9c2a1e',
      source: { type: 'review', id: 2003481562, reviewId: 2003481562 },
    });
  });

  it('a changes-requested review without a body still asks for a revision (of the review comments)', () => {
    expect(parse('pull_request_review', review('changes_requested', null))).toMatchObject({ kind: 'pr-revision', instruction: '' });
  });

  it('a commented review counts only with a body', () => {
    expectIgnored(parse('pull_request_review', example('pull_request_review', 'submitted')), /commented review without a body/);
    expect(parse('pull_request_review', review('commented', 'Use a Map here'))).toMatchObject({
      kind: 'pr-revision',
      instruction: 'Use a Map here',
      source: { type: 'review', id: 237895671 },
    });
  });

  it('ignores approvals, dismissals, and reviews of pull requests that are not TeleCoder\'s', () => {
    expectIgnored(parse('pull_request_review', review('approved', 'LGTM')), /state "approved" asks for no change/);
    expectIgnored(parse('pull_request_review', example('pull_request_review', 'dismissed')), /pull_request_review\.dismissed: not an event/);
    expectIgnored(parse('pull_request_review', review('changes_requested', 'no', 'feature/x')), /is not TeleCoder's/);
  });
});

describe('parseTrigger: who sent it and what is not an event', () => {
  it('ignores events the app itself caused, before reading anything else', () => {
    const payload = comment('/telecoder loop forever');
    payload.sender = { ...payload.sender, login: 'TeleCoder-App[bot]', type: 'Bot' };
    expectIgnored(parse('issue_comment', payload), /sent by the app itself \(TeleCoder-App\[bot\]\)/);
  });

  it("another bot's command is parsed, and the actor gate then refuses it without an answer", () => {
    const trigger = parse('issue_comment', fixture('issue-comment.created.by-bot'));
    expect(trigger).toMatchObject({ kind: 'comment-task', actor: { login: 'renovate[bot]', type: 'Bot' } });
    if (trigger.kind === 'ignored') throw new Error('expected a trigger');
    expect(checkActor(trigger.actor, { appSlug: 'telecoder-app' })).toEqual({
      allowed: false,
      reason: 'renovate[bot] is a bot account',
      answer: false,
    });
  });

  it('ignores events TeleCoder does not act on', () => {
    expectIgnored(parse('push', { action: undefined, ref: 'refs/heads/main' }), /push: the payload has no action/);
    const opened = example('pull_request', 'opened');
    expectIgnored(parse('pull_request', opened), /pull_request\.opened: not an event TeleCoder acts on/);
  });
});

describe('parseTrigger: untrusted payloads', () => {
  const cases: [string, string, () => unknown, RegExp][] = [
    ['a null payload', 'issues', () => null, /not an object/],
    ['a string payload', 'issues', () => 'labeled', /not an object/],
    ['no action', 'issues', () => ({ ...labeled('telecoder'), action: 7 }), /has no action/],
    ['no repository', 'issues', () => ({ ...labeled('telecoder'), repository: undefined }), /repository is missing or invalid/],
    [
      'an owner login that is not a login',
      'issues',
      () => {
        const payload = labeled('telecoder');
        payload.repository.owner.login = '../etc';
        return payload;
      },
      /repository\.owner\.login is missing or invalid/,
    ],
    ['no sender', 'issue_comment', () => ({ ...comment('/telecoder x'), sender: null }), /sender is missing or invalid/],
    [
      'an issue number that is text',
      'issue_comment',
      () => {
        const payload = comment('/telecoder x');
        (payload.issue as { number: unknown }).number = '1';
        return payload;
      },
      /issue\.number is missing or invalid/,
    ],
    [
      'a comment body that is not text',
      'issue_comment',
      () => {
        const payload = comment('/telecoder x');
        (payload.comment as { body: unknown }).body = { text: '/telecoder x' };
        return payload;
      },
      /comment\.body is missing or invalid/,
    ],
    [
      'a creation time that is not a time',
      'issue_comment',
      () => {
        const payload = comment('/telecoder x');
        payload.comment.created_at = 'yesterday';
        return payload;
      },
      /comment\.created_at is missing or invalid/,
    ],
    [
      'a pull request without a head',
      'pull_request_review_comment',
      () => ({ ...reviewComment(), pull_request: { ...reviewComment().pull_request, head: undefined } }),
      /pull_request\.head is missing or invalid/,
    ],
    [
      'a review without a state',
      'pull_request_review',
      () => ({ ...review('changes_requested', 'x'), review: { ...review('changes_requested', 'x').review, state: undefined } }),
      /review\.state is missing or invalid/,
    ],
    [
      'a labeled event that names no label',
      'issues',
      () => ({ ...labeled('telecoder'), label: undefined }),
      /names no label/,
    ],
  ];

  it.each(cases)('%s is ignored with a reason', (_case, name, payload, reason) => {
    expectIgnored(parse(name, payload()), reason);
  });

  it('a payload that throws while being read is ignored, not thrown', () => {
    const hostile = {
      get action(): string {
        throw new Error('boom');
      },
    };
    expectIgnored(parse('issues', hostile), /issues: the payload could not be read \(boom\)/);
  });

  it('never throws on any real example, whole or with any top-level field removed', () => {
    const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];
    let parsed = 0;
    for (const definition of definitions) {
      for (const payload of definition.examples) {
        const variants: unknown[] = [payload];
        for (const key of Object.keys(payload)) {
          const copy: Record<string, unknown> = structuredClone(payload) as unknown as Record<string, unknown>;
          delete copy[key];
          variants.push(copy);
        }
        for (const variant of variants) {
          const trigger = parseTrigger({ name: definition.name, payload: variant }, { triggerLabel: 'bug' });
          expect(['issue-task', 'comment-task', 'pr-revision', 'ignored']).toContain(trigger.kind);
          parsed += 1;
        }
      }
    }
    expect(parsed).toBeGreaterThan(1000);
  });
});

describe('parseCommand', () => {
  it('reads the instruction after the prefix', () => {
    expect(parseCommand('/telecoder fix it', '/telecoder')).toEqual({ instruction: 'fix it' });
    expect(parseCommand('\t/telecoder\tfix it ', '/telecoder')).toEqual({ instruction: 'fix it' });
    expect(parseCommand('/telecoder', '/telecoder')).toEqual({ instruction: '' });
    expect(parseCommand('/telecoder-x fix', '/telecoder')).toBeUndefined();
    expect(parseCommand('x /telecoder fix', '/telecoder')).toBeUndefined();
    expect(parseCommand('/telecoder fix', '  ')).toEqual({ instruction: 'fix' });
  });
});
