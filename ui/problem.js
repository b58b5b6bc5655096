// A readable author's preview of a capa problem (`problem/*.xml`, root
// `<problem>`), as the LMS would draw it: its text (the HTML inside, labels,
// descriptions, images), each response's inputs as disabled form controls
// (radio buttons, checkboxes, a select, a text box) with the correct answers
// marked for the author, solutions and demand hints collapsed, and scripts
// shown as code, never run. It is a reading aid, not a capa engine: nothing
// is graded, `$variables` stay as written, responses it does not draw get a
// placeholder naming them.
//
// Why a module of its own, and why a string: the preview is stored content,
// so it is never built into the UI's own document. `problemHtml` writes a
// whole HTML page into an inert document (`createHTMLDocument`: nothing in it
// loads or runs) and serializes it; the file view shows that page in the same
// sandboxed `srcdoc` frame as an HTML preview (no scripts, no same-origin),
// with `/static/` references already mapped to loadable URLs. Only elements
// and attributes it knows are kept (no event handlers, no inline styles, no
// `javascript:` URLs), which the frame's sandbox and CSP would block anyway.
// Element names follow edx-platform's `xmodule/capa` (responsetypes.py,
// inputtypes.py, capa_problem.py's `html_problem_semantics`).

/** The stylesheet of the preview page (loaded by the frame, same origin as the UI's files). */
const STYLESHEET = new URL('./problem.css', import.meta.url).href;

/**
 * Parses `text` as a problem: `{ doc }` when its root is `<problem>`,
 * `{ error }` (the parser's message) when it is not well-formed XML, and
 * null for well-formed XML of another kind.
 */
export function parseProblem(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  const failure = doc.getElementsByTagNameNS('*', 'parsererror')[0];
  if (failure) {
    const message = (failure.querySelector('div') || failure).textContent.trim();
    return { error: message || 'not well-formed XML' };
  }
  return doc.documentElement?.localName === 'problem' ? { doc } : null;
}

/** HTML elements copied as they are (with their known attributes). */
const HTML = new Set(('a abbr address article aside audio b bdi bdo big blockquote br caption center cite code col colgroup '
  + 'dd del details dfn div dl dt em figcaption figure font footer h1 h2 h3 h4 h5 h6 header hr i img ins kbd li mark '
  + 'ol p picture pre q s samp section small source span strike strong sub summary sup table tbody td tfoot th thead '
  + 'time tr track tt u ul var video wbr').split(' '));

/** Attributes never copied: inline styles (the frame's CSP blocks them) and what could run. */
const DROPPED_ATTRIBUTE = /^(on|style$|srcdoc$|formaction$|xmlns)/i;

/** Attributes holding a URL, mapped through `assetUrl`. */
const URL_ATTRIBUTES = new Set(['src', 'href', 'poster', 'data']);

/** Capa elements that are grading data, not text (capa_problem.py's `html_problem_semantics`). */
const SEMANTICS = new Set(['additional_answer', 'codeparam', 'responseparam', 'hintgroup', 'openendedparam',
  'openendedrubric', 'correcthint', 'stringequalhint', 'formulahint', 'numericalhint', 'regexphint', 'choicehint',
  'optionhint', 'compoundhint', 'booleanhint', 'style', 'startouttext', 'endouttext']);

/** Responses whose inputs are a text box with an `answer` attribute. */
const TEXT_RESPONSES = new Set(['stringresponse', 'numericalresponse', 'formularesponse']);

/** Choice inputs: the tag, and whether its choices are checkboxes. */
const CHOICE_GROUPS = new Set(['choicegroup', 'radiogroup', 'checkboxgroup', 'radiotextgroup', 'checkboxtextgroup']);

/** Text inputs (one line), and the boxes of several lines. */
const TEXT_INPUTS = new Set(['textline', 'formulaequationinput', 'numtolerance_input', 'decoy_input']);
const TEXT_AREAS = new Set(['textbox', 'codeinput', 'matlabinput']);

/** Inputs drawn as a placeholder: interactive widgets this preview does not run. */
const WIDGETS = new Set(['jsinput', 'imageinput', 'schematic', 'annotationinput', 'filesubmission', 'drag_and_drop_input',
  'chemicalequationinput', 'crystallography', 'vsepr_input', 'designprotein2dinput', 'editageneinput', 'editamolecule',
  'javascriptinput', 'drag_and_drop', 'jsme', 'choicetextgroup', 'formulainput', 'externalinput']);

/** What an author reads for a response type the preview names. */
const RESPONSE_NAMES = {
  customresponse: 'Custom response (graded by a script)',
  schematicresponse: 'Circuit schematic',
  imageresponse: 'Image mapped input',
  annotationresponse: 'Annotation',
  symbolicresponse: 'Symbolic response',
  coderesponse: 'Code graded by an external grader',
  externalresponse: 'Externally graded response',
  javascriptresponse: 'JavaScript response',
  jsmeresponse: 'Molecule editor',
};

const isTrue = (value) => /^(true|1|yes)$/i.test((value || '').trim());

/**
 * The preview page of a parsed problem `doc` (from `parseProblem`).
 * `assetUrl(written)` maps a reference as written (`/static/x.png`) to a URL
 * the frame can load, or null to keep it; `width` is the frame's, in CSS
 * pixels. Returns the page's HTML and a guess at its height (the frame
 * cannot be measured: it is another origin), for a frame that fits a short
 * problem and scrolls a long one.
 */
export function problemHtml(doc, { assetUrl = () => null, width = 800 } = {}) {
  const root = doc.documentElement;
  const title = root.getAttribute('display_name') || '';
  const out = document.implementation.createHTMLDocument(title || 'Problem');
  const meta = out.createElement('meta');
  meta.setAttribute('charset', 'utf-8');
  const link = out.createElement('link');
  link.setAttribute('rel', 'stylesheet');
  link.setAttribute('href', STYLESHEET);
  out.head.prepend(meta);
  out.head.append(link);
  out.documentElement.setAttribute('lang', 'en');

  const r = new Renderer(out, assetUrl);
  const body = r.el('div', { class: 'problem' });
  if (title) body.append(r.el('h3', { class: 'problem-header' }, title));
  body.append(...r.children(root));
  out.body.append(body);
  return { html: `<!doctype html>\n${out.documentElement.outerHTML}`, height: guessHeight(body, width) };
}

/** Blocks that start a line of their own in the preview (problem.css). */
const BLOCKS = 'p, li, h1, h2, h3, h4, h5, h6, pre, tr, .choice, .choicehint, .input-line, .placeholder, summary, blockquote, dt, dd';

/**
 * Roughly how tall the page `body` lays out in a frame `width` pixels wide:
 * its lines of text, the boxes around choices and inputs, and its images
 * (from their width and height attributes). Text inside a closed `<details>`
 * does not count. Errs on the tall side.
 */
function guessHeight(body, width) {
  const content = Math.max(200, width - 44);
  const perLine = content / 8;
  const hidden = (e) => !!e.closest('details') && !e.closest('summary');
  let height = 56;
  for (const e of body.querySelectorAll(BLOCKS)) {
    if (hidden(e) || e.parentElement.closest(BLOCKS.replace(/, summary/, ''))) continue;
    const text = e.textContent.replace(/\s+/g, ' ').trim().length;
    height += Math.max(1, Math.ceil(text / perLine)) * 24 + (e.matches('.choice') ? 20 : e.matches('summary, .placeholder, .input-line, pre') ? 22 : 14);
  }
  for (const image of body.querySelectorAll('img')) {
    if (hidden(image)) continue;
    const w = Number(image.getAttribute('width')) || content;
    const h = Number(image.getAttribute('height')) || 240;
    height += h * Math.min(1, content / w);
  }
  return Math.round(height * 1.1);
}

/** Builds the preview's nodes from the problem's, in the inert document `out`. */
class Renderer {
  constructor(out, assetUrl) {
    this.out = out;
    this.assetUrl = assetUrl;
    this.groups = 0;
    /** Inputs drawn inside the response being rendered. */
    this.drawn = 0;
    this.response = null;
  }

  /** An element of the preview: attributes (null skipped) and children (strings become text). */
  el(tag, attrs = {}, ...children) {
    const e = this.out.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : String(v));
    for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) e.append(c);
    return e;
  }

  children(node) {
    const parts = [];
    for (const child of node.childNodes) parts.push(...this.node(child));
    return parts;
  }

  /** The preview of one node of the problem: a list of nodes (often one, maybe none). */
  node(n) {
    if (n.nodeType === Node.TEXT_NODE || n.nodeType === Node.CDATA_SECTION_NODE) return [this.out.createTextNode(n.data)];
    if (n.nodeType !== Node.ELEMENT_NODE) return [];
    const tag = n.localName;
    if (SEMANTICS.has(tag)) return [];
    if (tag === 'script' || (tag === 'answer' && n.getAttribute('type'))) return [this.script(n)];
    if (tag === 'answer') return [];
    if (tag.endsWith('response')) return [this.responseBox(n)];
    if (CHOICE_GROUPS.has(tag)) return [this.choices(n)];
    if (tag === 'optioninput') return [this.select(n)];
    if (TEXT_INPUTS.has(tag)) return [this.textInput(n)];
    if (TEXT_AREAS.has(tag)) return [this.textArea(n)];
    if (WIDGETS.has(tag)) return [this.widget(n)];
    switch (tag) {
      case 'label': return [this.el('p', { class: 'question' }, this.children(n))];
      case 'description': return [this.el('p', { class: 'description' }, this.children(n))];
      case 'clarification': return [' ', this.el('span', { class: 'clarification', title: 'Clarification (a tooltip in the LMS)' }, this.children(n))];
      case 'solution': return [this.el('details', { class: 'solution' }, this.el('summary', {}, 'Show solution'), this.el('div', { class: 'solution-body' }, this.children(n)))];
      case 'demandhint': return [this.hints(n)];
      case 'hint': return [this.el('p', { class: 'hint' }, this.children(n))];
      case 'text': case 'math': return [this.el('span', {}, this.children(n))];
      case 'iframe': case 'embed': case 'object': return [this.placeholder(`Embedded ${tag}`, n.getAttribute('src') || n.getAttribute('data'))];
      default: break;
    }
    if (HTML.has(tag)) return [this.copy(n, tag)];
    // Anything else (an unknown or misspelled tag): its text, marked with its name.
    return [this.el('span', { class: 'unknown', title: `<${tag}>` }, this.children(n))];
  }

  /** An HTML element with its known attributes, URLs mapped to the collection's assets. */
  copy(n, tag) {
    const e = this.el(tag);
    for (const a of n.attributes) {
      if (DROPPED_ATTRIBUTE.test(a.name) || a.name.includes(':')) continue;
      let value = a.value;
      if (URL_ATTRIBUTES.has(a.name)) {
        if (/^\s*(javascript|vbscript):/i.test(value)) continue;
        value = this.assetUrl(value.trim()) || value;
      }
      e.setAttribute(a.name, value);
    }
    if (tag === 'a') e.setAttribute('rel', 'noopener noreferrer');
    e.append(...this.children(n));
    return e;
  }

  /** A response: its text and inputs; a placeholder when none of its inputs is drawn. */
  responseBox(n) {
    const type = n.localName;
    const outer = [this.response, this.drawn];
    this.response = n;
    this.drawn = 0;
    const box = this.el('div', { class: 'response', 'data-response': type });
    box.append(...this.children(n));
    if (this.drawn === 0) {
      if (TEXT_RESPONSES.has(type)) box.append(this.textInput(null));
      else box.append(this.placeholder(RESPONSE_NAMES[type] || type, null, type));
    }
    if (type === 'customresponse' && n.getAttribute('cfn')) {
      box.append(this.el('p', { class: 'author-note' }, 'Checked by the script’s ', this.el('code', {}, `${n.getAttribute('cfn')}()`)));
    }
    [this.response, this.drawn] = outer;
    return box;
  }

  /** Radio buttons or checkboxes, one per `<choice>`, the correct ones marked. */
  choices(n) {
    this.drawn += 1;
    this.groups += 1;
    const tag = n.localName;
    const checkbox = tag.startsWith('checkbox') || /checkbox/i.test(n.getAttribute('type') || '')
      || this.response?.localName === 'choiceresponse';
    const name = `group-${this.groups}`;
    const fieldset = this.el('fieldset', { class: `choices ${checkbox ? 'checkboxes' : 'radios'}` });
    for (const child of n.childNodes) {
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      if (child.localName !== 'choice') {
        fieldset.append(...this.node(child));
        continue;
      }
      const correct = (child.getAttribute('correct') || '').trim().toLowerCase();
      const hints = [...child.children].filter((c) => c.localName === 'choicehint');
      fieldset.append(this.el('div', { class: `choice${correct === 'true' ? ' is-correct' : ''}` },
        this.el('label', {},
          this.el('input', { type: checkbox ? 'checkbox' : 'radio', name, disabled: true }),
          ' ', this.el('span', { class: 'choice-text' }, this.children(child))),
        correct === 'true' ? this.el('span', { class: 'correct' }, '✓ correct')
          : correct === 'partial' ? this.el('span', { class: 'correct partial' }, '◐ partial credit') : null,
        hints.map((h) => this.el('div', { class: 'choicehint' },
          this.el('span', { class: 'hint-when' }, h.getAttribute('selected') === 'false' ? 'If not selected: ' : 'If selected: '),
          this.children(h)))));
    }
    return fieldset;
  }

  /** A dropdown: its options (the `<option>` children, or the old `options="('a','b')"`), the correct one named. */
  select(n) {
    this.drawn += 1;
    let options = [...n.children].filter((c) => c.localName === 'option').map((o) => ({
      text: [...o.childNodes].filter((c) => c.nodeType === Node.TEXT_NODE || c.nodeType === Node.CDATA_SECTION_NODE)
        .map((c) => c.data).join('').trim(),
      correct: isTrue(o.getAttribute('correct')),
    }));
    if (!options.length) {
      const correct = (n.getAttribute('correct') || '').trim();
      options = [...(n.getAttribute('options') || '').matchAll(/'((?:[^'\\]|\\.)*)'/g)]
        .map((m) => ({ text: m[1].replace(/\\(.)/g, '$1'), correct: m[1] === correct }));
    }
    const right = options.filter((o) => o.correct).map((o) => o.text);
    return this.el('span', { class: 'input-line' },
      this.el('select', { disabled: true, 'aria-label': 'Options' },
        this.el('option', {}, 'Select an option'),
        options.map((o) => this.el('option', {}, o.text))),
      right.length ? this.el('span', { class: 'correct' }, `✓ ${right.join(', ')}`) : null);
  }

  /** A one-line text box, with the answer its response expects (when it says). */
  textInput(n) {
    this.drawn += 1;
    const label = n?.getAttribute('label');
    const size = Math.min(Number(n?.getAttribute('size')) || 20, 60);
    const trailing = n?.getAttribute('trailing_text');
    return this.el('span', { class: `input-line${n && isTrue(n.getAttribute('inline')) ? ' inline' : ''}` },
      label ? this.el('span', { class: 'input-label' }, label, ' ') : null,
      this.el('input', { type: 'text', disabled: true, size, 'aria-label': label || 'Answer' }),
      trailing ? ` ${trailing}` : null,
      this.answer(n));
  }

  textArea(n) {
    this.drawn += 1;
    return this.el('span', { class: 'input-line block' },
      this.el('textarea', { disabled: true, rows: Math.min(Number(n.getAttribute('rows')) || 6, 20), cols: Math.min(Number(n.getAttribute('cols')) || 60, 100), 'aria-label': 'Answer' },
        n.textContent.trim()));
  }

  /** The expected answer of the response around a text input, as an author sees it. */
  answer(n) {
    const response = this.response;
    const type = response?.localName;
    let answers = [];
    let detail = null;
    if (TEXT_RESPONSES.has(type)) {
      answers = [response.getAttribute('answer')];
      if (type === 'stringresponse') {
        answers.push(...[...response.children].filter((c) => c.localName === 'additional_answer')
          .map((c) => c.getAttribute('answer') || c.textContent.trim()));
        const kind = (response.getAttribute('type') || '').split(/\s+/);
        detail = [kind.includes('regexp') ? 'a regular expression' : null, kind.includes('ci') ? 'any case' : null]
          .filter(Boolean).join(', ') || null;
      } else {
        const tolerance = [...response.children].find((c) => c.localName === 'responseparam' && c.getAttribute('type') === 'tolerance');
        const t = tolerance?.getAttribute('default');
        if (t && !/^0+(\.0*)?%?$/.test(t)) detail = `± ${t}`;
      }
    }
    if (n?.getAttribute('correct_answer')) answers.push(n.getAttribute('correct_answer'));
    answers = [...new Set(answers.filter((a) => a !== null && a !== ''))];
    if (!answers.length) return null;
    return this.el('span', { class: 'correct answer' }, '✓ ',
      answers.map((a, i) => [i ? ' or ' : null, this.el('code', {}, a)]), detail ? ` (${detail})` : null);
  }

  /** An interactive input this preview does not draw: named, with its image or page when it has one. */
  widget(n) {
    this.drawn += 1;
    const tag = n.localName;
    const type = this.response?.localName;
    const what = `${RESPONSE_NAMES[type] || type || 'Input'}: ${tag}`;
    const source = n.getAttribute('html_file') || (tag === 'imageinput' ? null : n.getAttribute('src'));
    const box = this.placeholder(what, source, type);
    if (tag === 'imageinput' && n.getAttribute('src')) {
      const src = n.getAttribute('src').trim();
      box.append(this.el('img', {
        src: this.assetUrl(src) || src, alt: n.getAttribute('alt') || '',
        width: n.getAttribute('width'), height: n.getAttribute('height'),
      }));
    }
    return box;
  }

  placeholder(what, source, type = null) {
    return this.el('div', { class: 'placeholder', 'data-response': type },
      this.el('strong', {}, what), ' — not drawn in this preview',
      source ? [' (', this.el('code', {}, source), ')'] : null);
  }

  /** `<demandhint>`: its hints, numbered, collapsed. */
  hints(n) {
    const items = [...n.children].filter((c) => c.localName === 'hint');
    return this.el('details', { class: 'hints' },
      this.el('summary', {}, `Show hints (${items.length})`),
      this.el('ol', {}, items.map((h) => this.el('li', {}, this.children(h)))));
  }

  /** A script: its code, collapsed, never run. */
  script(n) {
    const type = n.getAttribute('type') || 'script';
    const code = n.textContent.replace(/^\s*\n/, '').replace(/\s+$/, '');
    return this.el('details', { class: 'script' },
      this.el('summary', {}, `${n.localName === 'answer' ? 'Answer script' : 'Script'} (`, this.el('code', {}, type), ', not run)'),
      this.el('pre', {}, this.el('code', {}, code)));
  }
}
