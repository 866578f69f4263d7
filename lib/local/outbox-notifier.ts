import { join } from 'node:path';
import type { EmailMessage, Notifier, SlackMessage } from '../../handlers/shared/notifier';
import { privateDir, writeFileAtomic } from './durable';

export interface OutboxNotifierOptions {
  /** Folder that receives one JSON file per message (and .html/.txt for emails). */
  readonly dir: string;
  /** Called with a one-line summary of each message (local mode prints it). */
  readonly onMessage?: (line: string, file: string) => void;
}

/** Writes messages to an outbox folder instead of sending them (local mode). */
export class OutboxNotifier implements Notifier {
  private sequence = 0;

  constructor(private readonly options: OutboxNotifierOptions) {}

  async sendEmail(message: EmailMessage): Promise<void> {
    const base = this.write('email', message.to, { kind: 'email', ...message });
    writeFileAtomic(`${base}.html`, message.html);
    writeFileAtomic(`${base}.txt`, message.text);
    this.options.onMessage?.(`email to ${message.to}: ${message.subject}`, `${base}.json`);
  }

  async sendSlack(message: SlackMessage): Promise<void> {
    const base = this.write('slack', message.channel, { kind: 'slack', ...message });
    this.options.onMessage?.(
      `slack to ${message.channel}: ${message.text.split('\n')[0]}`,
      `${base}.json`,
    );
  }

  private write(kind: string, to: string, payload: object): string {
    privateDir(this.options.dir);
    this.sequence += 1;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const safeTo = to.replace(/[^A-Za-z0-9@._-]+/g, '_').slice(0, 80);
    const base = join(
      this.options.dir,
      `${stamp}-${process.pid}-${String(this.sequence).padStart(4, '0')}-${kind}-${safeTo}`,
    );
    writeFileAtomic(`${base}.json`, `${JSON.stringify(payload, null, 2)}\n`);
    return base;
  }
}
