// Column widths measured from the texts a column holds, so numbers, SNs and dates stay on
// one line and the other columns keep what is left (1366 px screens included).
const canvas = document.createElement("canvas").getContext("2d");
const TABLE_FONT_PX = 12; // the one-line tables' font size (style.css)
const CELL_PADDING = 14; // the cell's left and right padding (style.css) and a little air

function textWidth(text: string, font: string): number {
  if (!canvas) return text.length * TABLE_FONT_PX * 0.62;
  canvas.font = font;
  return canvas.measureText(text).width;
}

/** The width that shows every one of texts and the bold header whole; with cap, texts wider
 * than it are cut (the column shows a tooltip), the header never. */
export function fitWidth(texts: string[], header: string, cap = Infinity): number {
  const family = getComputedStyle(document.body).fontFamily;
  const body = texts.reduce((widest, text) => Math.max(widest, textWidth(text, `${TABLE_FONT_PX}px ${family}`)), 0);
  const head = textWidth(header, `bold ${TABLE_FONT_PX}px ${family}`) + CELL_PADDING;
  return Math.ceil(Math.max(Math.min(body + CELL_PADDING, cap), head));
}
