/** The source address of a request, without the IPv4-in-IPv6 prefix ("::ffff:127.0.0.5" → "127.0.0.5"). */
export function sourceAddress(req: { socket: { remoteAddress?: string | undefined } | null }): string {
  const a = req.socket?.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}
