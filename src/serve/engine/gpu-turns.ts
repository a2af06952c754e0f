/**
 * Turns on the process's one WebGPU device: onnxruntime's WebGPU provider shares a device context
 * between every session of the process, so runs of different sessions must not overlap. A session
 * that holds the turn may queue more runs behind its running one (its worker runs them in order),
 * which keeps the GPU busy while results travel back; another session that asks waits until the
 * holder's runs have drained, and from then on the holder's new runs queue behind it (first come,
 * first served between sessions, so a busy model cannot starve another).
 *
 * @example
 *   const turns = new GpuTurns<string>();
 *   await turns.acquire('ring');  // granted at once
 *   await turns.acquire('ring');  // granted: same holder, queued behind its first run
 *   const grid = turns.acquire('grid'); // waits for both 'ring' runs
 *   turns.release(); turns.release();  // grid's turn starts
 */
export class GpuTurns<K> {
  private holder: K | null = null;
  private held = 0;
  private readonly waiting: { key: K; start: () => void }[] = [];

  /** Resolves when `key` may post a run; each grant must be followed by one {@link release}. */
  acquire(key: K): Promise<void> {
    if (this.holder === null || (this.holder === key && this.waiting.length === 0)) {
      this.holder = key;
      this.held++;
      return Promise.resolve();
    }
    return new Promise<void>((start) => this.waiting.push({ key, start }));
  }

  /** One granted run has finished (successfully or not). */
  release(): void {
    if (this.held === 0) throw new Error('GpuTurns.release without a granted turn');
    if (--this.held > 0) return;
    this.holder = null;
    const next = this.waiting[0];
    if (!next) return;
    // The next session's turn: grant it every run it has waiting in a row.
    this.holder = next.key;
    while (this.waiting.length > 0 && this.waiting[0].key === next.key) {
      this.held++;
      this.waiting.shift()!.start();
    }
  }

  /**
   * Extend the turn `key` holds now by one grant, ahead of any waiting session (an abandoned
   * session's thread still inside its run keeps the device until it is free); false when `key`
   * does not hold the turn. Ended by one {@link release}.
   */
  extend(key: K): boolean {
    if (this.holder !== key) return false;
    this.held++;
    return true;
  }

  /** Runs granted and not yet released (tests). */
  get inFlight(): number {
    return this.held;
  }
}
