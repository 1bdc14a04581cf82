/**
 * The one-line answer to someone without write access who asked TeleCoder to work. The login is
 * reduced to GitHub's login alphabet so a crafted name cannot mention or format anything else.
 */
export function refusalMessage(login: string): string {
  const safe = login.replace(/\[bot\]$/i, '').replace(/[^A-Za-z0-9-]/g, '');
  const who = safe ? `@${safe}, only` : 'Only';
  return `${who} people with write access to this repository can ask TeleCoder to work, so no session was started.`;
}
