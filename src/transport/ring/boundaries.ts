/**
 * Where packets end in a byte stream seen in arbitrary chunks (the bytes
 * going through a ring, which the transport hands on unparsed): only each
 * header's type and length are looked at.
 */
import { HEADER_SIZE } from "../../protocol/messages.js";

export class PacketBoundaries {
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerHave = 0;
  private bodyLeft = 0;

  /** Part of a packet has been seen, not its end. */
  get partial(): boolean {
    return this.headerHave > 0 || this.bodyLeft > 0;
  }

  reset(): void {
    this.headerHave = 0;
    this.bodyLeft = 0;
  }

  /** Follow `data`; `ended(offset, type)` for each packet that ends in it (`offset`: just after it in `data`). */
  feed(data: Buffer, ended: (offset: number, type: number) => void): void {
    let off = 0;
    while (off < data.length) {
      if (this.headerHave < HEADER_SIZE) {
        const n = Math.min(HEADER_SIZE - this.headerHave, data.length - off);
        data.copy(this.header, this.headerHave, off, off + n);
        this.headerHave += n;
        off += n;
        if (this.headerHave < HEADER_SIZE) return;
        this.bodyLeft = this.header.readUInt32LE(12);
      }
      const n = Math.min(this.bodyLeft, data.length - off);
      off += n;
      this.bodyLeft -= n;
      if (this.bodyLeft > 0) return;
      this.headerHave = 0;
      ended(off, this.header.readUInt32LE(0));
    }
  }
}
