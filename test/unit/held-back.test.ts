import { describe, expect, it } from 'vitest';
import { heldBackEventText, heldBackSection, heldBackWarning } from '../../src/engine/held-back-text.js';
import { isHeldBackPath, workflowChangesAllowed } from '../../src/git/held-back-paths.js';
import { renderTrackingComment } from '../../src/github/app/tracking-comment-text.js';
import type { Session } from '../../src/model/session.js';

describe('which paths are held back', () => {
  it('holds back the workflow and action directories at the root, in any case, and .github itself as a file or link', () => {
    for (const path of [
      '.github/workflows/ci.yml',
      '.github/workflows/nested/deep.yaml',
      '.github/actions/setup/action.yml',
      '.GitHub/Workflows/CI.yml',
      '.GITHUB/ACTIONS/x',
      '.github/workflows',
      '.github',
    ]) {
      expect(isHeldBackPath(path), path).toBe(true);
    }
  });

  it('lets everything else through, including look-alikes that GitHub never runs', () => {
    for (const path of [
      '.github/CODEOWNERS',
      '.github/telecoder.yml',
      '.github/dependabot.yml',
      '.github/workflows-notes.md',
      'docs/.github/workflows/ci.yml',
      'src/.github/actions/x.yml',
      'github/workflows/ci.yml',
      'README.md',
    ]) {
      expect(isHeldBackPath(path), path).toBe(false);
    }
  });

  it('is allowed by the server or by the repository, and by nothing else', () => {
    expect(workflowChangesAllowed({ server: false })).toBe(false);
    expect(workflowChangesAllowed({ server: false, repository: false })).toBe(false);
    expect(workflowChangesAllowed({ server: true })).toBe(true);
    expect(workflowChangesAllowed({ server: false, repository: true })).toBe(true);
  });
});

describe('how held-back files are shown', () => {
  it('fences each file with a fence longer than any in its content, so the content cannot end the block', () => {
    const content = 'steps:\n  - run: |\n      cat <<EOF\n      ````\n      @octocat\n      EOF\n';
    const section = heldBackSection([
      { path: '.github/workflows/ci.yml', change: 'added', content },
      { path: '.github/workflows/old.yml', change: 'deleted' },
      { path: '.github/workflows/big.yml', change: 'modified', omitted: 'too large' },
    ]).join('\n');
    expect(section).toContain('## ⚠️ Held back: CI workflow changes');
    expect(section).toContain("with the repository's secrets");
    expect(section).toContain('TELECODER_ALLOW_WORKFLOW_CHANGES=true');
    expect(section).toContain('`allowWorkflowChanges: true`');
    expect(section).toContain(`\`\`\`\`\`yaml\n${content.trimEnd()}\n\`\`\`\`\``);
    expect(section).toContain('### `.github/workflows/old.yml` — deleted by the agent');
    expect(section).toContain('_content not shown: too large_');
  });

  it('names files in code spans that a backtick in the name cannot close, and keeps control characters out', () => {
    const warning = heldBackWarning([{ path: '.github/workflows/a`b\n.yml', change: 'added', content: 'x' }], 'the pull request body shows them');
    expect(warning).toContain('`` .github/workflows/a`b?.yml ``');
    expect(warning).not.toContain('\n');
  });

  it('shows the content in the session event too', () => {
    const text = heldBackEventText([{ path: '.github/workflows/ci.yml', change: 'added', content: 'on: push\n' }]);
    expect(text).toMatch(/^Held back, not pushed: 1 CI workflow file\(s\) \(\.github\/workflows\/ci\.yml\)/);
    expect(text).toContain('```\non: push\n```');
  });

  it('the tracking comment flags a delivered change with held-back files, a revision included', () => {
    const warning = heldBackWarning([{ path: '.github/workflows/ci.yml', change: 'added', content: 'x' }], "their content is in the session's events");
    const session = {
      id: 'abc123',
      status: 'complete',
      branch: 'feature',
      options: { revision: { prNumber: 7, prUrl: 'https://github.com/acme/widgets/pull/7', headBranch: 'feature' } },
      result: { type: 'pr', content: `Pushed to pull request #7, but ${warning}.\n\nDone.`, prNumber: 7, warning, heldBack: ['.github/workflows/ci.yml'] },
    } as unknown as Session;
    const comment = renderTrackingComment(session);
    expect(comment).toMatch(/^⚠️ Pushed changes to `feature`/);
    expect(comment).toContain('**Needs work:** 1 CI workflow file(s) (`.github/workflows/ci.yml`) were held back and not pushed');
  });
});
