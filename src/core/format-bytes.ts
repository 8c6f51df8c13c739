/** Bytes in binary units for people ("1.5 GiB"); `sep` goes between the figure and the unit. */
export function formatBytes(n: number, sep = ''): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)}${sep}${units[i]}`;
}
