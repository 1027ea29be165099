// The web UI's icon: a blue tile with three white bars (a queue of jobs), as SVG for the page's
// `<link rel="icon">` and as a 16×16 ICO for /favicon.ico, which browsers and tools ask for on their own.

/** The icon as SVG (presentation attributes only: the pages' CSP allows no inline style). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f5fbf"/><rect x="3" y="3.5" width="10" height="2" rx="1" fill="#fff"/><rect x="3" y="7" width="7" height="2" rx="1" fill="#fff"/><rect x="3" y="10.5" width="4" height="2" rx="1" fill="#fff"/></svg>`;

/** Whether pixel (x, y) of the 16×16 icon (y from the top) is inside the tile, and whether it is white. */
function pixel(x: number, y: number): 'none' | 'blue' | 'white' {
  // The tile's rounded corners: radius 3.
  const cx = x < 3 ? 3 : x > 12 ? 12 : x;
  const cy = y < 3 ? 3 : y > 12 ? 12 : y;
  if ((x - cx) ** 2 + (y - cy) ** 2 > 9) return 'none';
  const bar = (top: number, width: number) => y >= top && y < top + 2 && x >= 3 && x < 3 + width;
  return bar(3, 10) || bar(7, 7) || bar(11, 4) ? 'white' : 'blue';
}

/** The same icon as an ICO file: one 16×16, 32-bit BMP image (no compression, so no dependency). */
export function faviconIco(): Buffer {
  const size = 16;
  const pixels = Buffer.alloc(size * size * 4);
  for (let row = 0; row < size; row++) {
    // BMP rows go bottom-up; each pixel is BGRA.
    const y = size - 1 - row;
    for (let x = 0; x < size; x++) {
      const at = (row * size + x) * 4;
      const p = pixel(x, y);
      if (p === 'none') continue;
      const [r, g, b] = p === 'white' ? [255, 255, 255] : [0x1f, 0x5f, 0xbf];
      pixels[at] = b;
      pixels[at + 1] = g;
      pixels[at + 2] = r;
      pixels[at + 3] = 255;
    }
  }
  const andMask = Buffer.alloc(size * 4); // 1 bit a pixel, rows padded to 32 bits; alpha decides anyway
  const info = Buffer.alloc(40);
  info.writeUInt32LE(40, 0); // header size
  info.writeInt32LE(size, 4);
  info.writeInt32LE(size * 2, 8); // XOR image + AND mask
  info.writeUInt16LE(1, 12); // planes
  info.writeUInt16LE(32, 14); // bits per pixel
  info.writeUInt32LE(pixels.length + andMask.length, 20);
  const image = Buffer.concat([info, pixels, andMask]);
  const header = Buffer.alloc(6 + 16);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2); // type: icon
  header.writeUInt16LE(1, 4); // one image
  header.writeUInt8(size, 6);
  header.writeUInt8(size, 7);
  header.writeUInt16LE(1, 10); // planes
  header.writeUInt16LE(32, 12); // bits per pixel
  header.writeUInt32LE(image.length, 14);
  header.writeUInt32LE(header.length, 18); // offset of the image
  return Buffer.concat([header, image]);
}
