//! `gen_olx` — writes a large, synthetic but realistic Open edX OLX course
//! export, for benchmarks and scale tests of the Blockstore appliance.
//!
//! ```text
//! cargo run --release --example gen_olx -- --units 100000 --assets 10000 /tmp/big-course
//! cargo run --release --example gen_olx -- --units 1000 --assets 100 --seed 7 OUT
//! ```
//!
//! The tree is the one Studio exports: `course.xml` → `course/gen.xml` →
//! `chapter/` → `sequential/` → `vertical/` → leaf blocks (`html/` as an
//! `.xml` + `.html` pair, `problem/`, `video/`), plus `policies/gen/`,
//! `about/overview.html` and `static/`. Url_names are 32 hex digits, as
//! Studio writes them.
//!
//! * `--units N`: the number of unit files (every `.xml`, `.html` and policy
//!   `.json`) is exactly N (at least 9).
//! * `--assets M`: M files under `static/` — mostly `img_NNNNNN.png`, some
//!   `.jpg`, `.pdf` handouts and `.srt` transcripts — of deterministic
//!   pseudo-random bytes, 1–64 KiB each (log-uniform). About 2% of the names
//!   contain a space (`img 000123.png`); they are referenced as
//!   `/static/img_000123.png`, so they resolve only through Studio's
//!   asset-name rule.
//! * Html bodies, problems and videos reference assets (`/static/NAME`,
//!   video `transcripts`); about 0.5% of the references are deliberately
//!   broken (`/static/missing_XXXXXXXX.png`). Some html bodies carry a
//!   `/jump_to_id/<vertical>` link, and some verticals an inline
//!   `<done xblock-family="xblock.v1"/>` block.
//! * `--seed S` (default 1): the same arguments always give the same tree,
//!   byte for byte.
//! * OUT must be missing or empty unless `--force` is given; `--force` writes
//!   over files of the same name and removes nothing.
//!
//! One summary line goes to stderr.

use clap::Parser;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const ORG: &str = "BlockstoreX";
const COURSE: &str = "GEN101";
const RUN: &str = "gen";
/// `course.xml`, `course/RUN.xml`, two policy files and `about/overview.html`.
const FIXED_UNITS: u64 = 5;
/// One reference in this many is deliberately broken (0.5%).
const BROKEN_ONE_IN: u64 = 200;

/// Write a synthetic OLX course export (see the file's doc comment).
#[derive(Parser, Debug)]
#[command(name = "gen_olx", version, about)]
struct Args {
    /// Number of unit files to write (.xml, .html and policy .json).
    #[arg(long, default_value_t = 1000)]
    units: u64,
    /// Number of asset files to write under static/.
    #[arg(long, default_value_t = 100)]
    assets: u64,
    /// Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write into OUT even if it is not empty (overwrites, removes nothing).
    #[arg(long)]
    force: bool,
    /// Output folder: the export root (course.xml is written here).
    out: PathBuf,
}

/// splitmix64: tiny, fast, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A Studio-style url_name: 32 lowercase hex digits.
    fn hex32(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

const WORDS: &[&str] = &[
    "learners",
    "course",
    "module",
    "practice",
    "example",
    "question",
    "answer",
    "content",
    "review",
    "concept",
    "figure",
    "data",
    "model",
    "energy",
    "system",
    "structure",
    "history",
    "method",
    "result",
    "evidence",
    "argument",
    "source",
    "problem",
    "solution",
    "design",
    "network",
    "signal",
    "language",
    "culture",
    "market",
    "policy",
    "theory",
    "experiment",
    "measure",
    "change",
    "growth",
    "pattern",
    "process",
    "cell",
    "river",
    "climate",
    "number",
    "graph",
    "function",
    "value",
    "rate",
    "sample",
    "survey",
    "project",
    "team",
    "feedback",
    "skill",
    "reading",
    "writing",
    "simple",
    "careful",
    "common",
    "useful",
    "early",
    "modern",
    "local",
    "global",
    "clear",
    "short",
    "open",
    "shared",
    "first",
    "final",
    "key",
    "main",
];

const TITLE_WORDS: &[&str] = &[
    "Introduction",
    "Foundations",
    "Methods",
    "Case Study",
    "Review",
    "Practice",
    "Patterns",
    "Evidence",
    "Systems",
    "Models",
    "Data",
    "Design",
    "History",
    "Applications",
    "Analysis",
    "Basics",
    "Advanced Topics",
    "Wrap-up",
    "Lab",
    "Discussion",
    "Reading",
    "Overview",
];

fn title(rng: &mut Rng, prefix: &str, n: usize) -> String {
    format!(
        "{prefix} {n}: {} and {}",
        rng.pick(TITLE_WORDS),
        rng.pick(TITLE_WORDS)
    )
}

fn sentence(rng: &mut Rng, out: &mut String) {
    let n = rng.range(6, 16);
    for i in 0..n {
        let w = rng.pick(WORDS);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(w);
        }
    }
    out.push_str(". ");
}

fn paragraph(rng: &mut Rng, out: &mut String) {
    out.push_str("<p>");
    for _ in 0..rng.range(2, 5) {
        sentence(rng, out);
    }
    out.truncate(out.trim_end().len());
    out.push_str("</p>\n");
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AssetKind {
    Png,
    Jpg,
    Pdf,
    Srt,
}

struct Asset {
    /// File name under `static/` as on disk (may contain a space).
    file: String,
    /// The name a reference uses (`/static/REF`).
    reference: String,
    kind: AssetKind,
}

fn plan_assets(rng: &mut Rng, count: u64) -> Vec<Asset> {
    (0..count)
        .map(|i| {
            let kind = match rng.below(100) {
                0..=79 => AssetKind::Png,
                80..=87 => AssetKind::Jpg,
                88..=93 => AssetKind::Pdf,
                _ => AssetKind::Srt,
            };
            let (stem, ext) = match kind {
                AssetKind::Png => ("img", "png"),
                AssetKind::Jpg => ("photo", "jpg"),
                AssetKind::Pdf => ("handout", "pdf"),
                AssetKind::Srt => ("transcript", "srt"),
            };
            let reference = format!("{stem}_{i:06}.{ext}");
            // A few names with a space, reachable only via the asset-name rule.
            let file = if kind != AssetKind::Srt && rng.one_in(50) {
                format!("{stem} {i:06}.{ext}")
            } else {
                reference.clone()
            };
            Asset {
                file,
                reference,
                kind,
            }
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    Html,
    Problem,
    Video,
}

struct Leaf {
    kind: LeafKind,
    id: String,
}

struct Vertical {
    id: String,
    leaves: Vec<Leaf>,
    done: Option<String>,
}

struct Sequential {
    id: String,
    graded: bool,
    verticals: Vec<Vertical>,
}

struct Chapter {
    id: String,
    sequentials: Vec<Sequential>,
}

fn leaf(rng: &mut Rng, rem: &mut u64) -> Leaf {
    let mut kind = match rng.below(100) {
        0..=44 => LeafKind::Html,
        45..=84 => LeafKind::Problem,
        _ => LeafKind::Video,
    };
    if kind == LeafKind::Html && *rem < 2 {
        kind = LeafKind::Problem;
    }
    *rem -= if kind == LeafKind::Html { 2 } else { 1 };
    Leaf {
        kind,
        id: rng.hex32(),
    }
}

fn new_vertical(rng: &mut Rng) -> Vertical {
    Vertical {
        id: rng.hex32(),
        leaves: Vec::new(),
        done: None,
    }
}

/// Plans the outline so that it holds exactly `budget` unit files.
fn plan_outline(rng: &mut Rng, budget: u64) -> Vec<Chapter> {
    // About 4.6 files per vertical; fan out evenly over three levels.
    let fan = ((budget as f64 / 4.6).cbrt().round() as u64).max(2);
    let (lo, hi) = ((fan / 2).max(1), fan * 3 / 2);
    let mut rem = budget;
    let mut chapters: Vec<Chapter> = Vec::new();
    while rem > 0 {
        if rem < 4 && !chapters.is_empty() {
            break;
        }
        rem = rem.saturating_sub(1);
        let mut ch = Chapter {
            id: rng.hex32(),
            sequentials: Vec::new(),
        };
        for _ in 0..rng.range(lo, hi) {
            if rem < 3 && !ch.sequentials.is_empty() {
                break;
            }
            rem = rem.saturating_sub(1);
            let mut seq = Sequential {
                id: rng.hex32(),
                graded: rng.one_in(4),
                verticals: Vec::new(),
            };
            for _ in 0..rng.range(lo, hi) {
                if rem < 2 && !seq.verticals.is_empty() {
                    break;
                }
                rem = rem.saturating_sub(1);
                let mut v = new_vertical(rng);
                if rng.one_in(30) {
                    v.done = Some(rng.hex32());
                }
                for _ in 0..rng.range(1, 4) {
                    if rem == 0 {
                        break;
                    }
                    v.leaves.push(leaf(rng, &mut rem));
                }
                seq.verticals.push(v);
            }
            ch.sequentials.push(seq);
        }
        chapters.push(ch);
    }
    // Spend what is left (at most 3 files) on the last vertical.
    if let Some(v) = chapters
        .last_mut()
        .and_then(|c| c.sequentials.last_mut())
        .and_then(|s| s.verticals.last_mut())
    {
        while rem > 0 {
            v.leaves.push(leaf(rng, &mut rem));
        }
    }
    chapters
}

struct Writer {
    root: PathBuf,
    files: u64,
    bytes: u64,
    units: u64,
    refs: u64,
    broken: u64,
}

impl Writer {
    fn put(&mut self, rel: &str, data: &[u8]) -> io::Result<()> {
        let path = self.root.join(rel);
        fs::write(&path, data)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        self.files += 1;
        self.bytes += data.len() as u64;
        Ok(())
    }

    fn unit(&mut self, rel: &str, text: &str) -> io::Result<()> {
        self.units += 1;
        self.put(rel, text.as_bytes())
    }
}

/// Chooses the target of one asset reference: a real asset of one of `kinds`
/// (any asset if there is none of them), or, one time in 200, a missing one.
struct Refs<'a> {
    assets: &'a [Asset],
    images: Vec<usize>,
    pdfs: Vec<usize>,
    srts: Vec<usize>,
}

impl Refs<'_> {
    fn pick(&self, rng: &mut Rng, w: &mut Writer, kind: AssetKind) -> Option<String> {
        let pool = match kind {
            AssetKind::Png | AssetKind::Jpg => &self.images,
            AssetKind::Pdf => &self.pdfs,
            AssetKind::Srt => &self.srts,
        };
        let real = if pool.is_empty() {
            if self.assets.is_empty() {
                return None;
            }
            &self.assets[rng.below(self.assets.len() as u64) as usize]
        } else {
            &self.assets[*rng.pick(pool)]
        };
        w.refs += 1;
        if rng.one_in(BROKEN_ONE_IN) {
            w.broken += 1;
            let ext = real.reference.rsplit('.').next().unwrap_or("png");
            return Some(format!("missing_{:08x}.{ext}", rng.next_u64() as u32));
        }
        Some(real.reference.clone())
    }
}

fn html_body(
    rng: &mut Rng,
    w: &mut Writer,
    refs: &Refs,
    verticals: &[&str],
    out: &mut String,
) -> String {
    out.clear();
    let part = rng.range(1, 9) as usize;
    let heading = title(rng, "Part", part);
    let _ = writeln!(out, "<h3>{heading}</h3>");
    let paragraphs = rng.range(1, 4);
    let images = rng.range(0, 2);
    for i in 0..paragraphs {
        paragraph(rng, out);
        if i < images {
            if let Some(r) = refs.pick(rng, w, AssetKind::Png) {
                let _ = writeln!(
                    out,
                    "<p><img src=\"/static/{r}\" alt=\"Figure {}\" width=\"400\" /></p>",
                    i + 1
                );
            }
        }
    }
    if rng.one_in(8) {
        if let Some(r) = refs.pick(rng, w, AssetKind::Pdf) {
            let _ = writeln!(
                out,
                "<p>Download the <a href=\"/static/{r}\" target=\"_blank\">handout</a>.</p>"
            );
        }
    }
    if !verticals.is_empty() && rng.one_in(50) {
        let target = rng.pick(verticals);
        let _ = writeln!(
            out,
            "<p>See also <a href=\"/jump_to_id/{target}\">this earlier unit</a>.</p>"
        );
    }
    heading
}

fn problem_xml(rng: &mut Rng, w: &mut Writer, refs: &Refs, n: usize, out: &mut String) {
    out.clear();
    let name = title(rng, "Question", n);
    let _ = writeln!(
        out,
        "<problem display_name=\"{name}\" max_attempts=\"{}\" weight=\"1.0\" showanswer=\"finished\">",
        rng.range(1, 3)
    );
    let image = if rng.one_in(4) {
        refs.pick(rng, w, AssetKind::Png)
    } else {
        None
    };
    let mut prompt = String::new();
    sentence(rng, &mut prompt);
    let prompt = prompt.trim_end().trim_end_matches('.');
    match rng.below(3) {
        0 | 1 => {
            let multi = rng.one_in(3);
            let (resp, group) = if multi {
                ("choiceresponse", "checkboxgroup")
            } else {
                (
                    "multiplechoiceresponse",
                    "choicegroup type=\"MultipleChoice\"",
                )
            };
            let _ = writeln!(out, "  <{resp}>");
            if let Some(r) = image {
                let _ = writeln!(out, "    <p><img src=\"/static/{r}\" alt=\"Diagram\"/></p>");
            }
            let _ = writeln!(out, "    <label>{prompt}?</label>");
            let _ = writeln!(out, "    <{group}>");
            let choices = rng.range(3, 5);
            let correct = rng.below(choices);
            for c in 0..choices {
                let ok = c == correct || (multi && rng.one_in(3));
                let _ = writeln!(
                    out,
                    "      <choice correct=\"{ok}\">{} {}</choice>",
                    rng.pick(WORDS),
                    rng.pick(WORDS)
                );
            }
            let tag = group.split(' ').next().unwrap_or(group);
            let _ = writeln!(out, "    </{tag}>");
            out.push_str("    <solution>\n      <div class=\"detailed-solution\">\n        ");
            paragraph(rng, out);
            out.push_str("      </div>\n    </solution>\n");
            let _ = writeln!(out, "  </{resp}>");
        }
        _ => {
            let answer = rng.range(1, 1000);
            let _ = writeln!(out, "  <numericalresponse answer=\"{answer}\">");
            if let Some(r) = image {
                let _ = writeln!(out, "    <p><img src=\"/static/{r}\" alt=\"Chart\"/></p>");
            }
            let _ = writeln!(out, "    <label>{prompt}?</label>");
            let _ = writeln!(
                out,
                "    <responseparam type=\"tolerance\" default=\"{}%\"/>\n    <formulaequationinput/>",
                rng.range(0, 5)
            );
            out.push_str("  </numericalresponse>\n");
        }
    }
    out.push_str("</problem>\n");
}

fn video_xml(rng: &mut Rng, w: &mut Writer, refs: &Refs, id: &str, n: usize, out: &mut String) {
    out.clear();
    const YT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let yt: String = (0..11).map(|_| char::from(*rng.pick(YT))).collect();
    let name = title(rng, "Video", n);
    let srt = refs.pick(rng, w, AssetKind::Srt);
    let transcripts = match &srt {
        Some(s) => format!("{{&quot;en&quot;: &quot;{s}&quot;}}"),
        None => "{}".to_string(),
    };
    let _ = writeln!(
        out,
        "<video url_name=\"{id}\" display_name=\"{name}\" youtube=\"1.00:{yt}\" youtube_id_1_0=\"{yt}\" \
         sub=\"\" transcripts=\"{transcripts}\" download_track=\"true\" download_video=\"false\" \
         edx_video_id=\"\" html5_sources=\"[]\">"
    );
    if let Some(s) = srt {
        let _ = writeln!(out, "  <transcript language=\"en\" src=\"{s}\"/>");
    }
    out.push_str("</video>\n");
}

fn write_assets(w: &mut Writer, seed: u64, assets: &[Asset]) -> io::Result<()> {
    let mut rng = Rng::new(seed, 3);
    let mut buf = Vec::with_capacity(64 * 1024);
    for a in assets {
        // Log-uniform size in 1..=64 KiB: many small files, a few large.
        let exp = rng.below(1 << 16) as f64 / f64::from(1u32 << 16) * 6.0;
        let size = ((1024.0 * exp.exp2()) as usize).clamp(1024, 64 * 1024);
        buf.clear();
        match a.kind {
            AssetKind::Srt => {
                let mut text = String::new();
                let mut cue = String::new();
                for i in 1u32.. {
                    cue.clear();
                    let (s, e) = (i * 4 - 4, i * 4 - 1);
                    let _ = write!(
                        cue,
                        "{i}\n00:{:02}:{:02},000 --> 00:{:02}:{:02},500\n",
                        s / 60 % 60,
                        s % 60,
                        e / 60 % 60,
                        e % 60
                    );
                    sentence(&mut rng, &mut cue);
                    cue.truncate(cue.trim_end().len());
                    cue.push_str("\n\n");
                    if text.len() + cue.len() > size && !text.is_empty() {
                        break;
                    }
                    text.push_str(&cue);
                }
                buf.extend_from_slice(text.as_bytes());
            }
            kind => {
                let magic: &[u8] = match kind {
                    AssetKind::Png => b"\x89PNG\r\n\x1a\n",
                    AssetKind::Jpg => b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
                    _ => b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
                };
                buf.resize(size, 0);
                buf[..magic.len()].copy_from_slice(magic);
                rng.fill(&mut buf[magic.len()..]);
            }
        }
        w.put(&format!("static/{}", a.file), &buf)?;
    }
    Ok(())
}

fn write_course(w: &mut Writer, args: &Args) -> io::Result<()> {
    let seed = args.seed;
    let assets = plan_assets(&mut Rng::new(seed, 1), args.assets);
    let outline = plan_outline(
        &mut Rng::new(seed, 2),
        args.units.saturating_sub(FIXED_UNITS),
    );
    let all_verticals: Vec<&str> = outline
        .iter()
        .flat_map(|c| &c.sequentials)
        .flat_map(|s| &s.verticals)
        .map(|v| v.id.as_str())
        .collect();
    let by_kind = |k: &[AssetKind]| -> Vec<usize> {
        (0..assets.len())
            .filter(|&i| k.contains(&assets[i].kind))
            .collect()
    };
    let refs = Refs {
        assets: &assets,
        images: by_kind(&[AssetKind::Png, AssetKind::Jpg]),
        pdfs: by_kind(&[AssetKind::Pdf]),
        srts: by_kind(&[AssetKind::Srt]),
    };

    let root = w.root.clone();
    for dir in [
        "course",
        "chapter",
        "sequential",
        "vertical",
        "html",
        "problem",
        "video",
        "static",
        "about",
    ] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::create_dir_all(root.join("policies").join(RUN))?;

    let mut rng = Rng::new(seed, 4);
    let mut buf = String::with_capacity(16 * 1024);
    let mut body = String::with_capacity(16 * 1024);

    w.unit(
        "course.xml",
        &format!("<course url_name=\"{RUN}\" org=\"{ORG}\" course=\"{COURSE}\"/>\n"),
    )?;
    let display = format!("Generated Course (seed {seed})");
    buf.clear();
    let _ = writeln!(
        buf,
        "<course display_name=\"{display}\" language=\"en\" start=\"2026-01-01T00:00:00Z\" self_paced=\"true\" advanced_modules=\"[&quot;done&quot;]\">"
    );
    for c in &outline {
        let _ = writeln!(buf, "  <chapter url_name=\"{}\"/>", c.id);
    }
    let _ = writeln!(buf, "  <wiki slug=\"{ORG}.{COURSE}.{RUN}\"/>\n</course>");
    w.unit(&format!("course/{RUN}.xml"), &buf)?;
    w.unit(
        &format!("policies/{RUN}/policy.json"),
        &format!(
            "{{\n    \"course/{RUN}\": {{\n        \"advanced_modules\": [\n            \"done\"\n        ],\n        \
             \"display_name\": \"{display}\",\n        \"language\": \"en\",\n        \"self_paced\": true,\n        \
             \"start\": \"2026-01-01T00:00:00Z\"\n    }}\n}}\n"
        ),
    )?;
    w.unit(
        &format!("policies/{RUN}/grading_policy.json"),
        "{\n    \"GRADER\": [\n        {\n            \"drop_count\": 1,\n            \"min_count\": 3,\n            \
         \"short_label\": \"HW\",\n            \"type\": \"Homework\",\n            \"weight\": 1.0\n        }\n    ],\n    \
         \"GRADE_CUTOFFS\": {\n        \"Pass\": 0.5\n    }\n}\n",
    )?;
    buf.clear();
    let _ = writeln!(
        buf,
        "<section class=\"about\">\n  <h2>About This Course</h2>"
    );
    paragraph(&mut rng, &mut buf);
    buf.push_str("</section>\n");
    w.unit("about/overview.html", &buf)?;

    let mut n_leaf = 0usize;
    for (ci, ch) in outline.iter().enumerate() {
        buf.clear();
        let _ = writeln!(
            buf,
            "<chapter display_name=\"{}\">",
            title(&mut rng, "Module", ci + 1)
        );
        for s in &ch.sequentials {
            let _ = writeln!(buf, "  <sequential url_name=\"{}\"/>", s.id);
        }
        buf.push_str("</chapter>\n");
        w.unit(&format!("chapter/{}.xml", ch.id), &buf)?;
        for (si, seq) in ch.sequentials.iter().enumerate() {
            buf.clear();
            let name = title(&mut rng, "Lesson", si + 1);
            let graded = if seq.graded {
                " graded=\"true\" format=\"Homework\""
            } else {
                ""
            };
            let _ = writeln!(buf, "<sequential display_name=\"{name}\"{graded}>");
            for v in &seq.verticals {
                let _ = writeln!(buf, "  <vertical url_name=\"{}\"/>", v.id);
            }
            buf.push_str("</sequential>\n");
            w.unit(&format!("sequential/{}.xml", seq.id), &buf)?;
            for (vi, v) in seq.verticals.iter().enumerate() {
                buf.clear();
                let name = title(&mut rng, "Unit", vi + 1);
                let _ = writeln!(buf, "<vertical display_name=\"{name}\">");
                for l in &v.leaves {
                    let tag = match l.kind {
                        LeafKind::Html => "html",
                        LeafKind::Problem => "problem",
                        LeafKind::Video => "video",
                    };
                    let _ = writeln!(buf, "  <{tag} url_name=\"{}\"/>", l.id);
                }
                if let Some(d) = &v.done {
                    let _ = writeln!(
                        buf,
                        "  <done url_name=\"{d}\" xblock-family=\"xblock.v1\" button_text=\"Mark as done\"/>"
                    );
                }
                buf.push_str("</vertical>\n");
                w.unit(&format!("vertical/{}.xml", v.id), &buf)?;
                for l in &v.leaves {
                    n_leaf += 1;
                    match l.kind {
                        LeafKind::Html => {
                            let heading = html_body(&mut rng, w, &refs, &all_verticals, &mut body);
                            w.unit(&format!("html/{}.html", l.id), &body)?;
                            buf.clear();
                            let _ = writeln!(
                                buf,
                                "<html filename=\"{}\" display_name=\"{heading}\"/>",
                                l.id
                            );
                            w.unit(&format!("html/{}.xml", l.id), &buf)?;
                        }
                        LeafKind::Problem => {
                            problem_xml(&mut rng, w, &refs, n_leaf, &mut buf);
                            w.unit(&format!("problem/{}.xml", l.id), &buf)?;
                        }
                        LeafKind::Video => {
                            video_xml(&mut rng, w, &refs, &l.id, n_leaf, &mut buf);
                            w.unit(&format!("video/{}.xml", l.id), &buf)?;
                        }
                    }
                }
            }
        }
    }
    write_assets(w, seed, &assets)
}

fn check_out(out: &Path, force: bool) -> Result<(), String> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(format!(
                    "{} is not empty; pass --force to write into it anyway",
                    out.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))
        }
        Err(e) => Err(format!("{}: {e}", out.display())),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let start = Instant::now();
    if let Err(e) = check_out(&args.out, args.force) {
        eprintln!("gen_olx: {e}");
        return ExitCode::from(2);
    }
    let mut w = Writer {
        root: args.out.clone(),
        files: 0,
        bytes: 0,
        units: 0,
        refs: 0,
        broken: 0,
    };
    if let Err(e) = write_course(&mut w, &args) {
        eprintln!("gen_olx: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "gen_olx: wrote {} files ({} units, {} assets), {} bytes, {} asset refs ({} broken) to {} in {:.2}s",
        w.files,
        w.units,
        w.files - w.units,
        w.bytes,
        w.refs,
        w.broken,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
