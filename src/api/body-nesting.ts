/**
 * Nesting checks on a request body's TEXT, before any parser (JSON.parse, the YAML composer) or
 * recursive code sees it: a body nested thousands of levels deep is refused in one linear scan.
 */

export const DEFAULT_BODY_DEPTH = 64;

export interface NestingProblem {
  depth: number;
  line: number;
  column: number;
}

/** Line and column (1-based) of offset `at` in `text`. */
function position(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: at - lineStart + 1 };
}

/**
 * The first place a JSON text opens more than `max` nested arrays/objects, or null. Exact for
 * valid JSON (brackets inside strings do not count); linear, no recursion.
 */
export function jsonNestingProblem(text: string, max: number): NestingProblem | null {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      depth++;
      if (depth > max) return { depth, ...position(text, i) };
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      if (depth > 0) depth--;
    }
  }
  return null;
}

/** "- ", "? " and ": " indicators that open a compact nested collection at a line's start ("- - - x"). */
const COMPACT = /^(?:[-?:](?:[ \t]+|$))+/;

/**
 * An upper bound of a YAML text's nesting, refused past `max`: block levels (a stack of
 * indentations), compact indicators ("- - - x") and flow brackets, counted everywhere (also inside
 * quoted or block scalars, so no quoting can hide a "[[[[…" from it). It can over-count only for
 * text with dozens of unbalanced brackets or indentation steps inside a string; linear, no recursion.
 */
export function yamlNestingProblem(text: string, max: number): NestingProblem | null {
  const indents: number[] = [];
  let flow = 0;
  let lineStart = 0;
  let line = 1;
  while (lineStart <= text.length) {
    let end = text.indexOf('\n', lineStart);
    if (end < 0) end = text.length;
    const raw = text.slice(lineStart, end);
    let indent = 0;
    while (indent < raw.length && raw.charCodeAt(indent) === 32) indent++;
    const rest = raw.slice(indent);
    if (rest.trim() !== '' && !rest.startsWith('#')) {
      if (flow === 0) {
        while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
      }
      const compact = COMPACT.exec(rest)?.[0] ?? '';
      const compactLevels = compact.replace(/[ \t]/g, '').length;
      let d = indents.length + compactLevels + flow;
      if (d > max) return { depth: d, line, column: indent + 1 };
      for (let i = 0; i < raw.length; i++) {
        const c = raw.charCodeAt(i);
        if (c === 91 || c === 123) {
          flow++;
          d++;
          if (d > max) return { depth: d, line, column: i + 1 };
        } else if ((c === 93 || c === 125) && flow > 0) {
          flow--;
          d--;
        }
      }
    }
    lineStart = end + 1;
    line++;
  }
  return null;
}
