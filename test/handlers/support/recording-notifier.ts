import type { EmailMessage, Notifier, SlackMessage } from '../../../handlers/shared/notifier';

/** Collects messages instead of sending them; can be told to fail for some recipients. */
export class RecordingNotifier implements Notifier {
  readonly emails: EmailMessage[] = [];
  readonly slack: SlackMessage[] = [];
  failFor = new Set<string>();

  async sendEmail(message: EmailMessage): Promise<void> {
    if (this.failFor.has(message.to)) throw new Error(`cannot reach ${message.to}`);
    this.emails.push(message);
  }

  async sendSlack(message: SlackMessage): Promise<void> {
    if (this.failFor.has(message.channel)) throw new Error(`cannot reach ${message.channel}`);
    this.slack.push(message);
  }

  /** Every byte that left through this notifier. */
  all(): string {
    return JSON.stringify({ emails: this.emails, slack: this.slack });
  }

  /** The approval link in the message sent to `recipient` (email or Slack ID). */
  linkFor(recipient: string): string {
    const message =
      this.emails.find((e) => e.to === recipient)?.text ??
      JSON.stringify(this.slack.find((s) => s.channel === recipient) ?? '');
    const match = /https?:\/\/[^\s|>"]+\/a\/[A-Za-z0-9_-]{43}/.exec(message);
    if (!match) throw new Error(`no link for ${recipient}`);
    return match[0];
  }
}
