import { describe, expect, it } from 'vitest';
import { checkActor } from '../../src/github/check-actor.js';
import { decidePermission } from '../../src/github/decide-permission.js';
import { refusalMessage } from '../../src/github/refusal-message.js';

describe('decidePermission', () => {
  // GitHub's answer for each built-in role: `permission` folds maintain into write and triage into read.
  const matrix: [role: string, permission: string, allowed: boolean][] = [
    ['admin', 'admin', true],
    ['maintain', 'write', true],
    ['write', 'write', true],
    ['triage', 'read', false],
    ['read', 'read', false],
    ['none', 'none', false],
  ];

  it.each(matrix)('role %s (permission %s) → allowed %s', (role, permission, allowed) => {
    const decision = decidePermission(permission, role);
    expect(decision.allowed).toBe(allowed);
    expect(decision.reason).toContain(role);
  });

  it('trusts role_name over permission', () => {
    expect(decidePermission('write', 'triage').allowed).toBe(false);
    expect(decidePermission('read', 'maintain').allowed).toBe(true);
  });

  it('falls back to permission without a role name', () => {
    expect(decidePermission('admin').allowed).toBe(true);
    expect(decidePermission('write').allowed).toBe(true);
    expect(decidePermission('read').allowed).toBe(false);
    expect(decidePermission('none').allowed).toBe(false);
    expect(decidePermission('WRITE', '').allowed).toBe(true);
  });

  it("judges an organization's custom role by its base permission", () => {
    expect(decidePermission('write', 'release-manager')).toEqual({
      allowed: true,
      reason: 'permission write (custom role release-manager) can write to the repository',
    });
    expect(decidePermission('read', 'security-auditor').allowed).toBe(false);
  });

  it('refuses a missing or unknown answer', () => {
    expect(decidePermission(undefined)).toEqual({ allowed: false, reason: 'GitHub reported no permission for this account' });
    expect(decidePermission(undefined, 'custom-role').allowed).toBe(false);
    expect(decidePermission('').allowed).toBe(false);
    expect(decidePermission('pull').allowed).toBe(false);
  });
});

describe('checkActor', () => {
  it('lets people through to the permission check', () => {
    expect(checkActor({ login: 'octocat', type: 'User' }, { appSlug: 'telecoder-app' })).toEqual({ allowed: true });
  });

  it('refuses Bot accounts silently', () => {
    expect(checkActor({ login: 'github-actions', type: 'Bot' })).toEqual({
      allowed: false,
      reason: 'github-actions is a bot account',
      answer: false,
    });
  });

  it('refuses any [bot] login silently, whatever type it claims', () => {
    expect(checkActor({ login: 'dependabot[bot]', type: 'User' })).toMatchObject({ allowed: false, answer: false });
    expect(checkActor({ login: 'Other-App[BOT]', type: 'User' })).toMatchObject({ allowed: false, answer: false });
  });

  it('refuses the app itself silently, and a configured bot login', () => {
    expect(checkActor({ login: 'telecoder-app[bot]', type: 'Bot' }, { appSlug: 'telecoder-app' })).toEqual({
      allowed: false,
      reason: 'telecoder-app[bot] is TeleCoder itself',
      answer: false,
    });
    expect(checkActor({ login: 'TeleCoder-Machine', type: 'User' }, { botLogin: 'telecoder-machine' })).toEqual({
      allowed: false,
      reason: 'TeleCoder-Machine is TeleCoder itself',
      answer: false,
    });
  });

  it('refuses an actor without a login without answering', () => {
    expect(checkActor({ login: '', type: 'User' })).toMatchObject({ allowed: false, answer: false });
    expect(checkActor({} as { login: string; type: string })).toMatchObject({ allowed: false, answer: false });
  });
});

describe('refusalMessage', () => {
  it('is one polite line that says who may ask and that nothing started', () => {
    const message = refusalMessage('octocat');
    expect(message).toBe(
      '@octocat, only people with write access to this repository can ask TeleCoder to work, so no session was started.',
    );
    expect(message).not.toContain('\n');
  });

  it('cannot be made to mention or format anything else', () => {
    expect(refusalMessage('x @everyone **bold**\n# heading')).toMatch(/^@xeveryonebold/);
    expect(refusalMessage('x @everyone **bold**\n# heading')).not.toMatch(/[@*#\n].*[@*#\n]/);
    expect(refusalMessage('')).toMatch(/^Only people with write access/);
  });
});
