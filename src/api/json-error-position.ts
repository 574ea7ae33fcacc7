/**
 * Where a text stops being valid JSON (RFC 8259). JSON.parse's messages differ between Node
 * versions and often carry no position at all, so after it fails this scanner finds the spot to
 * name in the 400. Iterative: deep nesting cannot overflow the stack.
 * Why not just Node's message: Node 20 gives a position for most errors but not for "Unexpected
 * token" ones (e.g. `[1, 2,]`: `Unexpected token ']', ..."[1, 2,]" is not valid JSON`), and the
 * 400 names line and column for every malformed body.
 */
export interface JsonProblem {
  /** 0-based index of the offending character (text.length when the text ends too early) */
  index: number;
  line: number;
  column: number;
  /** "unexpected '}'" or "unexpected end of input" */
  problem: string;
}

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/** null when the text is valid JSON (then JSON.parse failed for another reason). */
export function findJsonProblem(text: string): JsonProblem | null {
  const index = scan(text);
  if (index < 0) return null;
  const { line, column } = lineColumn(text, index);
  const problem = index >= text.length ? 'unexpected end of input' : `unexpected ${describeChar(text.charAt(index))}`;
  return { index, line, column, problem };
}

export function lineColumn(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}

function describeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  return `'${c}'`;
}

/** Index of the first error, or -1 when the whole text is one valid JSON value. */
function scan(text: string): number {
  const n = text.length;
  let i = 0;
  const stack: string[] = [];

  const ws = (): void => {
    while (i < n && WS.has(text.charAt(i))) i++;
  };
  const string = (): boolean => {
    if (text.charAt(i) !== '"') return false;
    i++;
    while (i < n) {
      const c = text.charAt(i);
      if (c === '"') {
        i++;
        return true;
      }
      if (c === '\\') {
        const e = text.charAt(i + 1);
        if (e === 'u') {
          for (let k = 2; k < 6; k++) {
            if (!/[0-9a-fA-F]/.test(text.charAt(i + k))) {
              i += k;
              return false;
            }
          }
          i += 6;
          continue;
        }
        if (!ESCAPES.has(e)) {
          i += 1;
          return false;
        }
        i += 2;
        continue;
      }
      if (text.charCodeAt(i) < 0x20) return false;
      i++;
    }
    return false;
  };
  const digits = (): boolean => {
    const start = i;
    while (i < n && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    return i > start;
  };
  const number = (): boolean => {
    if (text.charAt(i) === '-') i++;
    if (text.charAt(i) === '0') i++;
    else if (!digits()) return false;
    if (text.charAt(i) === '.') {
      i++;
      if (!digits()) return false;
    }
    if (text.charAt(i) === 'e' || text.charAt(i) === 'E') {
      i++;
      if (text.charAt(i) === '+' || text.charAt(i) === '-') i++;
      if (!digits()) return false;
    }
    return true;
  };
  const literal = (word: string): boolean => {
    for (let k = 0; k < word.length; k++) {
      if (text.charAt(i) !== word.charAt(k)) return false;
      i++;
    }
    return true;
  };
  const scalar = (): boolean => {
    const c = text.charAt(i);
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    return false;
  };
  const key = (): boolean => {
    ws();
    if (!string()) return false;
    ws();
    if (text.charAt(i) !== ':') return false;
    i++;
    return true;
  };

  for (;;) {
    // a value is expected at i
    ws();
    if (i >= n) return n;
    const c = text.charAt(i);
    if (c === '{') {
      i++;
      ws();
      if (text.charAt(i) === '}') i++;
      else {
        stack.push('}');
        if (!key()) return i;
        continue;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text.charAt(i) === ']') i++;
      else {
        stack.push(']');
        continue;
      }
    } else if (!scalar()) return i;

    // a value ended: close containers or move to the next element
    let next = false;
    while (!next) {
      ws();
      const closer = stack[stack.length - 1];
      if (closer === undefined) return i < n ? i : -1;
      if (i >= n) return n;
      const d = text.charAt(i);
      if (d === ',') {
        i++;
        if (closer === '}' && !key()) return i;
        next = true;
      } else if (d === closer) {
        i++;
        stack.pop();
      } else return i;
    }
  }
}
