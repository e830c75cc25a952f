/**
 * A ring page whose copies are done by the addon (native/xen.c) with the
 * protocol's barriers: a mapped guest page, dom0's page, or ordinary
 * memory (tests and in-process peers).
 */
import type { Field, Queue, RingPage } from "../transport/ring/page.js";
import type { NativeRing, XenAddon } from "./native.js";

export class NativeRingPage implements RingPage {
  constructor(
    private readonly addon: XenAddon,
    private readonly ring: NativeRing,
  ) {}

  consume(queue: Queue, max: number): Buffer | null {
    return this.addon.ringConsume(this.ring, queue, max);
  }

  peek(queue: Queue, from: number, max: number): Buffer | null {
    return this.addon.ringPeek(this.ring, queue, from >>> 0, max);
  }

  produce(queue: Queue, data: Buffer): number {
    return this.addon.ringProduce(this.ring, queue, data);
  }

  waiting(queue: Queue): number {
    return this.addon.ringState(this.ring, queue);
  }

  get(field: Field): number {
    return this.addon.ringGet(this.ring, field);
  }

  set(field: Field, value: number): void {
    this.addon.ringSet(this.ring, field, value);
  }

  release(): void {
    this.addon.unmap(this.ring);
  }
}

/** A ring page in ordinary memory (`buffer`, at least 4096 bytes), with the same copies as a mapped one. */
export function memoryRing(addon: XenAddon, buffer: Buffer): NativeRingPage {
  return new NativeRingPage(addon, addon.ringOfBuffer(buffer));
}
