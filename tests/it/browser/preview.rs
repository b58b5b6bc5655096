//! Issue 16 item 2: a capa problem gets a readable preview (its text,
//! choices and images, drawn by `ui/problem.js` in the sandboxed `srcdoc`
//! frame), its XML a tab away; an image shows its pixel size; an SVG is
//! shown as an image at its own size. Seeded with the project's sample
//! course (`examples/sample-course`) and files written through the API.

use super::harness::Browser;
use super::*;

/// The sample course seeded (`blockstore seed`), served with `args`, and a
/// browser; panics without Chromium.
#[track_caller]
fn sample(args: &[&str]) -> Ui {
    require_browser();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeded = cli_json(&data, &["seed"]);
    let slug = seeded["collections"][0]["collection"]
        .as_str()
        .expect("seed names the collection it loaded")
        .to_string();
    let server = Server::start_in(&data, args);
    let b = Browser::launch(&format!("http://{}", server.addr));
    Ui {
        b,
        server,
        slug,
        _dir: dir,
    }
}

/// Waits for the problem preview frame's page and returns the text of its
/// `.problem` (the page is drawn once the links of the problem are known).
#[track_caller]
fn preview_text(b: &Browser) -> String {
    b.wait_js(
        "the problem's preview page",
        "const f = document.querySelector('iframe.preview.problem'); \
         return !!f && f.srcdoc.includes('class=\"problem\"');",
    );
    b.in_frame("iframe.preview.problem", |f| {
        f.wait_js(
            "the preview page to load",
            "return document.readyState === 'complete' && !!document.querySelector('.problem') \
               ? document.querySelector('.problem').innerText : null;",
        )
    })
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The frame is sandboxed as an HTML preview is: no scripts, no same origin.
#[track_caller]
fn assert_sandboxed(b: &Browser) {
    let sandbox = b
        .attr("iframe.preview.problem", "sandbox")
        .expect("the preview frame has a sandbox attribute");
    assert!(
        !sandbox.contains("allow-same-origin") && !sandbox.contains("allow-scripts"),
        "sandbox={sandbox:?}"
    );
    assert!(b.attr("iframe.preview.problem", "src").is_none());
}

/// A problem of every shape the preview draws, with active content that
/// must stay text.
const SHAPES: &str = r#"<problem display_name="Every shape">
  <script type="loncapa/python">
x = 6 * 7
</script>
  <script type="text/javascript">document.title = 'pwned'; localStorage.setItem('pwned', '1');</script>
  <p>Some text with <strong>strong</strong> words<clarification>said twice</clarification>.</p>
  <img src="x" onerror="document.title = 'pwned'" alt="broken on purpose"/>
  <optionresponse>
    <label>What is the capital city of Australia?</label>
    <optioninput>
      <option correct="False">Sydney</option>
      <option correct="True">Canberra <optionhint>Yes.</optionhint></option>
      <option correct="False">Melbourne</option>
    </optioninput>
  </optionresponse>
  <choiceresponse>
    <label>Which are true?</label>
    <description>Two of them.</description>
    <checkboxgroup>
      <choice correct="true">One is one<choicehint selected="true">Right.</choicehint></choice>
      <choice correct="false">Two is three</choice>
      <choice correct="true">Three is three</choice>
    </checkboxgroup>
  </choiceresponse>
  <numericalresponse answer="600">
    <label>What is 120 times 5?</label>
    <responseparam type="tolerance" default="5"/>
    <formulaequationinput/>
  </numericalresponse>
  <stringresponse answer="bubble" type="ci">
    <label>A word ending in -bble?</label>
    <additional_answer answer="rubble"/>
    <textline size="20"/>
  </stringresponse>
  <customresponse cfn="check">
    <jsinput html_file="/static/sim.html" gradefn="getGrade"/>
  </customresponse>
  <solution><p>The worked answer.</p></solution>
  <demandhint><hint>First hint.</hint><hint>Second hint.</hint></demandhint>
</problem>"#;

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_problem_shows_a_readable_preview_with_its_choices_and_images() {
    let ui = sample(&[]);
    let b = &ui.b;
    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.js("localStorage.setItem('bs-sentinel', 'kept');");

    // The sample's multiple-choice problem, with an image from /static/.
    ui.open(
        &format!("/c/{}/f/problem/prob_identify_folder.xml", ui.slug),
        "file",
    );
    assert_eq!(
        b.attr("#tab-preview", "aria-selected").as_deref(),
        Some("true"),
        "the preview is the first tab"
    );
    assert_sandboxed(b);
    let text = preview_text(b);
    assert!(
        text.contains("In which file is that text stored?"),
        "the question: {text}"
    );
    let frame = b.in_frame("iframe.preview.problem", |f| {
        let image = f.wait_js(
            "the problem's image to load in the frame",
            "const i = document.querySelector('.problem img'); \
             return i && i.complete && i.naturalWidth > 0 ? i.naturalWidth : null;",
        );
        (
            image,
            f.js("return [...document.querySelectorAll('fieldset.choices input[type=radio]')] \
                  .map((r) => ({ disabled: r.disabled, text: r.closest('.choice').querySelector('.choice-text').textContent.trim() }));"),
            f.js("return [...document.querySelectorAll('.choice.is-correct')].map((c) => c.innerText);"),
            f.js("const d = document.querySelector('details.solution'); \
                  return d ? { open: d.open, summary: d.querySelector('summary').textContent } : null;"),
            // The page's stylesheet loaded (the UI's own file, allowed by the frame's policy).
            f.js("return getComputedStyle(document.querySelector('.choice')).borderTopStyle;"),
        )
    });
    assert!(
        frame.0.as_f64().is_some_and(|w| w > 0.0),
        "naturalWidth {}",
        frame.0
    );
    let radios = frame.1.as_array().unwrap();
    let texts: Vec<&str> = radios.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "vertical/intro.xml",
            "html/intro.xml",
            "html/intro.html",
            "static/intro.html"
        ],
        "a radio button per choice"
    );
    assert!(radios.iter().all(|r| r["disabled"] == true), "{radios:?}");
    let correct = frame.2.as_array().unwrap();
    assert_eq!(correct.len(), 1, "{correct:?}");
    let marked = correct[0].as_str().unwrap();
    assert!(
        marked.contains("html/intro.html") && marked.contains("✓ correct"),
        "{marked}"
    );
    assert_eq!(
        frame.3,
        json!({ "open": false, "summary": "Show solution" }),
        "the solution, collapsed"
    );
    assert_eq!(frame.4, "solid", "the preview's stylesheet applies");
    b.screenshot("problem-preview");
    require_dark(b);
    b.wait_js(
        "the dark scheme",
        "return matchMedia('(prefers-color-scheme: dark)').matches;",
    );
    b.screenshot("problem-preview-dark");
    b.color_scheme("light");

    // The XML, a tab away.
    b.click("#tab-xml");
    b.wait_js(
        "the XML tab",
        "const x = document.querySelector('#problem-xml'); \
         return !!x && !x.hidden && document.querySelector('#problem-preview').hidden;",
    );
    assert!(b.text("#problem-xml pre.code").contains("<choicegroup"));
    b.click("#tab-preview");
    b.wait_js(
        "the preview tab again",
        "return !document.querySelector('#problem-preview').hidden;",
    );

    // Every shape: a select, checkboxes, text boxes with their answers,
    // a placeholder, collapsed hints and scripts that never run.
    ui.put("problem/shapes.xml", SHAPES.as_bytes());
    ui.open(&format!("/c/{}/f/problem/shapes.xml", ui.slug), "file");
    assert_sandboxed(b);
    let text = preview_text(b);
    for shown in [
        "Every shape",
        "What is the capital city of Australia?",
        "✓ Canberra",
        "Which are true?",
        "Two of them.",
        "If selected: Right.",
        "600",
        "± 5",
        "bubble",
        "rubble",
        "jsinput",
        "Show solution",
        "Show hints (2)",
        "said twice",
    ] {
        assert!(text.contains(shown), "{shown:?} in the preview: {text}");
    }
    let shapes = b.in_frame("iframe.preview.problem", |f| {
        f.js("const q = (css) => [...document.querySelectorAll(css)]; return {\
              options: q('select option').map((o) => o.textContent),\
              selects_disabled: q('select').every((s) => s.disabled),\
              checkboxes: q('input[type=checkbox]').length,\
              texts: q('input[type=text]').length,\
              placeholder: q('.placeholder').map((p) => p.dataset.response),\
              scripts: document.scripts.length,\
              handlers: q('[onerror], [onclick], [onload]').length,\
              code: q('details.script').map((d) => ({ open: d.open, code: d.querySelector('pre').textContent })),\
              hints: q('details.hints li').map((l) => l.textContent),\
              ran: document.documentElement.dataset.ran || null };")
    });
    assert_eq!(
        shapes["options"],
        json!(["Select an option", "Sydney", "Canberra", "Melbourne"])
    );
    assert_eq!(shapes["selects_disabled"], true);
    assert_eq!(shapes["checkboxes"], 3);
    assert_eq!(shapes["texts"], 2);
    assert_eq!(shapes["placeholder"], json!(["customresponse"]));
    assert_eq!(shapes["scripts"], 0, "scripts are shown, not kept");
    assert_eq!(shapes["handlers"], 0, "no event handler attributes");
    assert_eq!(shapes["hints"], json!(["First hint.", "Second hint."]));
    let code = shapes["code"].as_array().unwrap();
    assert_eq!(code.len(), 2, "{code:?}");
    assert!(code.iter().all(|c| c["open"] == false), "{code:?}");
    assert!(code[0]["code"].as_str().unwrap().contains("x = 6 * 7"));
    assert!(code[1]["code"]
        .as_str()
        .unwrap()
        .contains("document.title = 'pwned'"));
    assert_untouched(b, "the problem preview");
    b.in_frame("iframe.preview.problem", |f| {
        f.js("document.querySelectorAll('details').forEach((d) => { d.open = true; });");
    });
    b.screenshot("problem-preview-shapes");
    b.in_frame("iframe.preview.problem", |f| {
        f.js("window.scrollTo(0, document.body.scrollHeight);");
    });
    b.screenshot("problem-preview-shapes-end");

    // A problem that does not parse: its XML as before, and why.
    ui.put("problem/broken.xml", b"<problem><p>unclosed</problem>");
    ui.open(&format!("/c/{}/f/problem/broken.xml", ui.slug), "file");
    let error = b.text("#problem-error");
    assert!(error.contains("does not parse"), "{error}");
    assert!(b.text("pre.code").contains("<p>unclosed"));
    assert_eq!(b.count("iframe.preview"), 0);
    b.screenshot("problem-preview-broken");
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn an_image_shows_its_pixel_size_and_an_svg_its_own_size() {
    let ui = sample(&[]);
    let b = &ui.b;

    // A PNG: its natural size next to its byte size.
    ui.open(&format!("/c/{}/f/static/olx-tree.png", ui.slug), "file");
    b.wait_css("dl.meta [data-size] [data-pixels]");
    let natural = b.js("const i = document.querySelector('img.preview'); \
         return `${i.naturalWidth} × ${i.naturalHeight} px`;");
    assert_eq!(
        b.attr("[data-pixels]", "data-pixels").as_deref(),
        natural.as_str()
    );
    assert!(b.text("[data-size]").contains(natural.as_str().unwrap()));
    b.screenshot("image-pixels");

    // An SVG with a width and height: an image at 40 × 30 CSS px.
    ui.put(
        "static/box.svg",
        br##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><script>document.title = 'pwned';</script><rect width="40" height="30" fill="#0a58ca"/></svg>"##,
    );
    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.js("localStorage.setItem('bs-sentinel', 'kept');");
    ui.open(&format!("/c/{}/f/static/box.svg", ui.slug), "file");
    assert_eq!(b.count("iframe.preview"), 0, "an image, never a frame");
    b.wait_css("[data-pixels]");
    let shown = b.js("const i = document.querySelector('img.preview'); \
         return { w: i.clientWidth, h: i.clientHeight, loaded: i.complete && i.naturalWidth > 0, \
                  data: i.src.startsWith('data:image/svg+xml') };");
    assert_eq!(
        shown,
        json!({ "w": 40, "h": 30, "loaded": true, "data": true }),
        "its own size"
    );
    assert_eq!(
        b.attr("[data-pixels]", "data-pixels").as_deref(),
        Some("40 × 30 px")
    );
    assert_eq!(b.count("svg script, main svg rect"), 0, "never inline");
    assert_untouched(b, "the SVG preview");
    b.screenshot("svg-own-size");

    // Only a viewBox, wider than the column: its ratio, scaled down to fit.
    ui.put(
        "static/wide.svg",
        br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4000 100"><rect width="4000" height="100" fill="#116329"/></svg>"##,
    );
    ui.open(&format!("/c/{}/f/static/wide.svg", ui.slug), "file");
    b.wait_css("[data-pixels]");
    let wide = b.js("const i = document.querySelector('img.preview'); \
         return { w: i.clientWidth, h: i.clientHeight, column: i.closest('.preview-box').clientWidth };");
    let (w, h, column) = (
        wide["w"].as_f64().unwrap(),
        wide["h"].as_f64().unwrap(),
        wide["column"].as_f64().unwrap(),
    );
    assert!(
        w <= column && w < 4000.0,
        "scaled down to the column: {wide}"
    );
    assert!((w / h - 40.0).abs() < 1.0, "its ratio kept: {wide}");
    let pixels = b.attr("[data-pixels]", "data-pixels").unwrap();
    assert!(
        pixels.contains("× 100 px") && pixels.contains("viewBox"),
        "{pixels}"
    );
    require_dark(b);
    b.screenshot("svg-viewbox-dark");
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn with_a_token_a_problem_preview_loads_its_images() {
    const TOKEN: &str = "s3cret-token";
    let ui = sample(&["--token", TOKEN]);
    let b = &ui.b;
    b.goto(&format!(
        "/c/{}/f/problem/prob_identify_folder.xml",
        ui.slug
    ));
    b.wait_ready("error");
    b.type_into("#token", TOKEN);
    b.navigate("file", |b| b.click("form.token-form button[type=submit]"));
    assert_sandboxed(b);
    let text = preview_text(b);
    assert!(
        text.contains("In which file is that text stored?"),
        "{text}"
    );
    let image = b.in_frame("iframe.preview.problem", |f| {
        f.wait_js(
            "the problem's image, fetched with the token",
            "const i = document.querySelector('.problem img'); \
             return i && i.complete && i.naturalWidth > 0 ? i.src.slice(0, 22) : null;",
        )
    });
    assert_eq!(image, "data:image/png;base64,", "embedded bytes");

    // An image's pixel size with a token too.
    ui.open(&format!("/c/{}/f/static/olx-tree.png", ui.slug), "file");
    b.wait_css("[data-pixels]");
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn every_problem_of_the_demo_course_gets_a_preview() {
    let ui = Ui::demo();
    let b = &ui.b;
    let problems = ui.paths("problem/");
    assert!(problems.len() > 20, "{problems:?}");
    for path in &problems {
        ui.open(&format!("/c/{}/f/{path}", ui.slug), "file");
        if b.exists("#problem-error") {
            b.fail(&format!("{path}: {}", b.text("#problem-error")));
        }
        let text = preview_text(b);
        assert!(!text.trim().is_empty(), "{path}: an empty preview");
        assert_eq!(
            b.in_frame("iframe.preview.problem", |f| f
                .js("return document.scripts.length;")),
            0,
            "{path}"
        );
        let name = path.trim_start_matches("problem/").trim_end_matches(".xml");
        // A few shapes to look at: hints and images, checkboxes, a dropdown,
        // a script and a custom response.
        if [
            "ef8c3814d2ce47c6927a8310bba4b849",
            "0135258373e648f2b57a80ae06bade61",
            "c89f56c74a3a424dbffb665d4643b42f",
            "53083a812536472ba8ea8182ee354363",
            "7c95e593b148415e97ac02811c7daf1b",
        ]
        .contains(&name)
        {
            b.screenshot(&format!("problem-demo-{}", &name[..8]));
        }
    }
    b.assert_no_js_errors();
}
