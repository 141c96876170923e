/** Admits at most `limit` holders at once; the rest wait their turn in arrival order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    return this.releaser();
  }

  /**
   * A slot now, even beyond the limit: for a run that is already going (taken over after a restart),
   * which must count towards the limit but cannot wait for it.
   */
  take(): () => void {
    this.active++;
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Over the limit (runs taken over), a freed slot is not handed on: the count comes down first.
      const next = this.active <= this.limit ? this.waiting.shift() : undefined;
      if (next) next();
      else this.active--;
    };
  }

  get queued(): number {
    return this.waiting.length;
  }
}
