//! `app_bench`: the handheld app's figures for BENCHMARKS.md ("The handheld
//! app"), measured on the real `gridwork-app` binary through `tauri-driver`
//! (the end-to-end test's harness), against a real `gridwork-server`.
//!
//! ```text
//! cargo build -p gridwork-app --bins --examples
//! xvfb-run -a -s "-screen 0 1280x800x24" target/debug/examples/app_bench [--part start|search|photos|memory|all|idle]
//! ```
//!
//! Setup, once per run: the demo city (`init --demo`) with 100,000 more
//! residents written at the server into its first worker's grid; a tablet
//! enrolled and synced through the library (the app's own `AppState` and
//! key file, so the app opens it as its own), its PIN set: the app starts in
//! phase `locked`. Then:
//!
//! - **start**: fresh app starts (a new WebDriver session each, same data
//!   directory): to the PIN screen's input shown, and from pressing the
//!   unlock button to Today shown;
//! - **search**: keystrokes in the registry's search box, each timed in the
//!   page from its `keydown` to the results painted; the ceiling is the
//!   store's `find_residents` for the same texts, in this process, same run;
//! - **photos**: a case with two 3 MB camera-sized JPEGs: each photo from
//!   the file input's `change` to its thumbnail painted, and the case from
//!   the save button's `click` to its page shown;
//! - **memory**: the resident set size of the app and of its WebKit processes
//!   before and after 1,000 operations (searches, opening residents, edits,
//!   visits, tab switches), and after 1,000 more;
//! - **idle** (not in `all`): the CPU of the app left alone on each main
//!   screen, and with the scroll box's overlay scrollbar styled away.
//!
//! Times in the page are `performance.now()` taken by listeners and
//! `requestAnimationFrame` watchers the benchmark installs through WebDriver
//! (and a wrapper of `fetch`, which Tauri's IPC uses, to split out the
//! commands' round trips); "painted" is the first task after the animation
//! frame in which the DOM showed the result. Plain timing: nothing here
//! asserts a speed.

#[path = "../tests/e2e/driver.rs"]
#[allow(dead_code)]
mod driver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use driver::{TauriDriver, Ui, tid};
use gridwork_domain::formats::make_id_number;
use gridwork_domain::{Kind, Value};
use gridwork_store::{Durability, Options, Role, Store, SystemClock};
use gridwork_tests::{Server, workspace_root};
use serde_json::{Value as Json, json};

const PIN: &str = "402917";
const RESIDENT_SEED: u64 = 20_261_127;

/// A table row of timings in ms: median, min, max, then every run.
fn timing_row(what: &str, v: &[f64]) {
    println!("| {what} | {:.0} | {:.0} | {:.0} | {} |", median(v), pct(v, 0.0), pct(v, 100.0), list(v));
}

// ------------------------------------------------------------------ data

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Common surnames, most frequent first (a resident draws one weighted
/// towards the front, as China's are).
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
    "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田",
    "董", "袁", "潘", "于", "蒋", "蔡",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "兰", "霞", "平", "刚", "桂", "华", "建", "国", "文", "红", "玉", "志", "海", "金", "春",
    "小", "德", "辉", "燕", "云", "佳",
];
/// Where residents' ID-card numbers come from: mostly this district
/// (Wucheng, 330702), some the rest of Jinhua, some other provinces.
const REGIONS: &[(u32, u32)] = &[
    (330702, 60),
    (330703, 10),
    (330781, 5),
    (330782, 5),
    (411522, 5),
    (511321, 5),
    (362322, 5),
    (110105, 5),
];
const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "157", "158",
    "159", "177", "180", "182", "186", "187", "188", "189",
];

fn surname(rng: &mut Rng) -> &'static str {
    // Weighted: the square of a uniform draw favours the front.
    let u = rng.below(1_000_000) as f64 / 1_000_000.0;
    SURNAMES[((u * u) * SURNAMES.len() as f64) as usize]
}

fn resident_fields(n: usize, grids: &[String], rng: &mut Rng) -> Vec<(&'static str, Value)> {
    let mut name = surname(rng).to_owned();
    for _ in 0..1 + rng.below(2) {
        name += GIVEN[rng.below(GIVEN.len())];
    }
    let mut pick = rng.below(100) as u32;
    let region = REGIONS
        .iter()
        .find(|(_, share)| {
            if pick < *share {
                true
            } else {
                pick -= share;
                false
            }
        })
        .map_or(330702, |(code, _)| *code);
    let birth =
        chrono::NaiveDate::from_ymd_opt(1935, 1, 1).unwrap() + chrono::Days::new(rng.below(30_000) as u64);
    let sequence = rng.below(1000) as u32;
    let phone = format!("{}{:08}", PHONE_PREFIXES[rng.below(PHONE_PREFIXES.len())], rng.next() % 100_000_000);
    vec![
        ("grid", Value::from(grids[n % grids.len()].as_str())),
        ("name", name.into()),
        ("id_number", make_id_number(region, birth, sequence).into()),
        ("sex", Value::from(if sequence % 2 == 1 { "male" } else { "female" })),
        ("birth_date", birth.format("%Y-%m-%d").to_string().into()),
        ("phone", phone.into()),
        ("room", format!("{}-{}", 1 + rng.below(30), 101 + rng.below(20)).into()),
        ("residence_type", Value::from(["registered", "permanent", "floating"][rng.below(3)])),
    ]
}

/// A camera-sized JPEG of about 3 MB: a sky, buildings, a road, and the
/// sensor noise that makes real photos that large.
fn camera_jpeg(seed: u64, noise: f32) -> Vec<u8> {
    let (width, height) = (4000u32, 3000u32);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let blocks: Vec<(u32, u32, u32, [u8; 3])> = (0..14)
        .map(|i| {
            let x = i * 300 + rng.below(80) as u32;
            let w = 220 + rng.below(120) as u32;
            let top = 600 + rng.below(900) as u32;
            let shade = 120 + rng.below(90) as u8;
            (x, w, top, [shade, shade - 10, shade - 25])
        })
        .collect();
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let mut base = if y > 2100 {
            let lane = if (x / 250) % 2 == 0 && (2480..2520).contains(&y) { 90.0 } else { 0.0 };
            [95.0 + lane, 95.0 + lane, 100.0 + lane]
        } else {
            [110.0 + 60.0 * y as f32 / 2100.0, 160.0 + 40.0 * y as f32 / 2100.0, 225.0]
        };
        for (bx, bw, top, colour) in &blocks {
            if x >= *bx && x < bx + bw && y >= *top && y <= 2100 {
                let window = (x - bx) % 40 < 22 && (y - top) % 60 < 30;
                let c = colour.map(f32::from);
                base = if window { [c[0] * 0.55, c[1] * 0.6, c[2] * 0.75] } else { c };
            }
        }
        let r = rng.next();
        let mut pixel = [0u8; 3];
        for (i, channel) in pixel.iter_mut().enumerate() {
            let a = ((r >> (i * 16)) & 0xff) as f32 / 255.0;
            let b = ((r >> (i * 16 + 8)) & 0xff) as f32 / 255.0;
            *channel = (base[i] + (a + b - 1.0) * noise).clamp(0.0, 255.0) as u8;
        }
        image::Rgb(pixel)
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&image).expect("a JPEG");
    bytes
}

// ------------------------------------------------------------------ processes

/// (pid, parent) of every process.
fn process_table() -> Vec<(u32, u32, String)> {
    let mut table = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = stat[open + 1..close].to_owned();
        if let Some(parent) = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            table.push((pid, parent, comm));
        }
    }
    table
}

fn descendants_of(pid: u32) -> Vec<(u32, String)> {
    let table = process_table();
    let mut found: Vec<(u32, String)> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (child, p, comm) in &table {
            if *p == parent {
                found.push((*child, comm.clone()));
                frontier.push(*child);
            }
        }
    }
    found
}

/// The running app's process id (a descendant of this process).
fn app_pid() -> Option<u32> {
    descendants_of(std::process::id())
        .into_iter()
        .find(|(_, comm)| comm == "gridwork-app")
        .map(|(pid, _)| pid)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// When a process started, as Unix ms (from its start in clock ticks since
/// boot; 10 ms resolution).
fn started_unix_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks: f64 = stat[stat.rfind(')')? + 1..].split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 =
        std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    Some(unix_ms() - uptime * 1000.0 + ticks * 10.0)
}

fn unix_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs_f64() * 1000.0
}

/// Memory of the app and of every process under it (WebKit's web and
/// network processes), in MiB: [(name, pid, VmRSS, VmHWM)].
fn memory() -> Vec<(String, u32, f64, f64)> {
    let Some(app) = app_pid() else { return Vec::new() };
    let mut all = vec![(app, "gridwork-app".to_owned())];
    all.extend(descendants_of(app));
    all.into_iter()
        .map(|(pid, comm)| {
            (comm, pid, status_kib(pid, "VmRSS") as f64 / 1024.0, status_kib(pid, "VmHWM") as f64 / 1024.0)
        })
        .collect()
}

fn print_memory(label: &str, mem: &[(String, u32, f64, f64)]) -> f64 {
    let total: f64 = mem.iter().map(|m| m.2).sum();
    let parts: Vec<String> =
        mem.iter().map(|(comm, pid, rss, hwm)| format!("{comm}[{pid}] {rss:.1} (peak {hwm:.1})")).collect();
    println!("- {label}: total {total:.1} MiB: {}", parts.join(", "));
    total
}

/// CPU time (user + system) of the app and its WebKit processes, in ms,
/// over `window` of idleness (nothing driven).
fn idle_cpu(window: Duration) -> Vec<(String, f64)> {
    let ticks = |pid: u32| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let fields: Vec<f64> = stat[stat.rfind(')')? + 1..]
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                Some(fields.iter().sum::<f64>() * 10.0)
            })
            .unwrap_or(0.0)
    };
    let Some(app) = app_pid() else { return Vec::new() };
    let mut all = vec![(app, "gridwork-app".to_owned())];
    all.extend(descendants_of(app));
    let before: Vec<f64> = all.iter().map(|(pid, _)| ticks(*pid)).collect();
    std::thread::sleep(window);
    all.iter().zip(before).map(|((pid, comm), b)| (comm.clone(), ticks(*pid) - b)).collect()
}

fn print_idle(label: &str, window: Duration, cpu: &[(String, f64)]) {
    let parts: Vec<String> =
        cpu.iter().map(|(comm, ms)| format!("{comm} {:.1} %", ms / window.as_secs_f64() / 10.0)).collect();
    println!("- CPU while idle {label} ({} s): {}", window.as_secs(), parts.join(", "));
}

/// Waits for the app of a closed session to be gone.
fn wait_app_gone() {
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Some(pid) = app_pid() {
        if Instant::now() > deadline {
            eprintln!("the app ({pid}) did not exit with its session: killing it");
            let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            std::thread::sleep(Duration::from_millis(500));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its WebKit helpers go with it.
    std::thread::sleep(Duration::from_millis(300));
}

// ------------------------------------------------------------------ statistics

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn median(values: &[f64]) -> f64 {
    let v = sorted(values);
    if v.is_empty() {
        return f64::NAN;
    }
    if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 }
}

/// Nearest-rank percentile.
fn pct(values: &[f64], p: f64) -> f64 {
    let v = sorted(values);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn list(values: &[f64]) -> String {
    values.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(", ")
}

// ------------------------------------------------------------------ the page

/// Installed in the page: listeners timestamping input events, a `fetch`
/// wrapper timing Tauri's IPC requests (`ipc://localhost/COMMAND`), a
/// mutation counter, and watchers that note the animation frame in which a
/// condition first holds and the first task after it ("painted").
const HELPER: &str = r#"
if (!window.__bench) {
  const B = window.__bench = { ipc: [], marks: {}, lastMut: 0, muts: 0, watches: {}, search: null };
  const realFetch = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === 'string' ? input : ((input && input.url) || String(input));
    const p = realFetch.apply(this, arguments);
    if (url.startsWith('ipc:') || url.indexOf('ipc.localhost') >= 0) {
      const rec = { cmd: decodeURIComponent(url.split('?')[0].split('/').pop()), t0: performance.now(), t1: null };
      B.ipc.push(rec);
      if (B.ipc.length > 400) B.ipc.splice(0, B.ipc.length - 400);
      p.then(() => { rec.t1 = performance.now(); }, () => { rec.t1 = performance.now(); rec.failed = true; });
    }
    return p;
  };
  for (const type of ['keydown', 'input', 'change', 'click', 'submit']) {
    document.addEventListener(type, () => { B.marks[type] = performance.now(); }, true);
  }
  B.mutTimes = [];
  new MutationObserver(() => {
    const t = performance.now();
    B.lastMut = t; B.muts++; B.mutTimes.push(t);
    if (B.mutTimes.length > 200) B.mutTimes.splice(0, B.mutTimes.length - 200);
  })
    .observe(document.documentElement, { subtree: true, childList: true, characterData: true });
  const visible = (sel) => { const e = document.querySelector(sel); return !!e && e.getClientRects().length > 0; };
  const loaded = (sel) => [...document.querySelectorAll(sel)].filter((i) => i.complete && i.naturalWidth > 0).length;
  B.preds = {
    visible: (sel) => visible(sel),
    imgs: ([sel, n]) => loaded(sel) >= n,
    casePage: (n) => /^#\/cases\/(?!new)[^/?]+/.test(location.hash)
      && document.querySelectorAll('[data-testid="photo-thumb"]').length >= n,
    casePhotos: (n) => /^#\/cases\/(?!new)[^/?]+/.test(location.hash)
      && loaded('[data-testid="photo-thumb"] img') >= n,
  };
  B.watch = (name, pred, arg) => {
    const w = B.watches[name] = { since: performance.now(), frame: null, painted: null };
    const tick = () => {
      let ok = false;
      try { ok = B.preds[pred](arg); } catch (e) { ok = false; }
      if (ok) { w.frame = performance.now(); setTimeout(() => { w.painted = performance.now(); }, 0); }
      else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
  // One keystroke in the search box: its search's IPC round trip, the first
  // DOM change after the answer, the frame that shows it, the task after.
  B.armSearch = () => {
    const s = B.search = { since: performance.now(), key: null, rec: null, mutFrame: null, painted: null, unchanged: false };
    const tick = () => {
      const now = performance.now();
      const recs = B.ipc.filter((r) => r.cmd === 'search_residents' && r.t0 >= s.since);
      const rec = recs.length ? recs[recs.length - 1] : null;
      if (rec && rec.t1 != null) {
        if (B.lastMut > rec.t1) {
          s.rec = rec; s.mutFrame = now; s.searches = recs.length;
          s.firstMut = B.mutTimes.find((t) => t > rec.t1);
          setTimeout(() => { s.painted = performance.now(); }, 0);
          return;
        }
        if (now - rec.t1 > 400) {
          // The answer changed nothing on screen (the same first rows).
          s.rec = rec; s.unchanged = true; s.mutFrame = rec.t1; s.painted = rec.t1; s.searches = recs.length;
          return;
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
}
return true;
"#;

fn install(ui: &Ui) {
    ui.js(HELPER);
}

/// Polls a JS expression every few ms until it is truthy; its value.
fn wait_js(ui: &Ui, what: &str, expr: &str, timeout: Duration) -> Json {
    let deadline = Instant::now() + timeout;
    let script = format!("try {{ return ({expr}); }} catch (e) {{ return null; }}");
    loop {
        let value = ui.js(&script);
        let truthy = match &value {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if Instant::now() > deadline {
            ui.fail(&format!("timed out after {timeout:?} waiting for {what} (`{expr}`)"));
        }
        // The times are taken in the page: polling only has to notice them,
        // and polling faster would take the page's main thread from it.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn visible_js(css: &str) -> String {
    format!("(e => !!e && e.getClientRects().length > 0)(document.querySelector({}))", json!(css))
}

fn wait_visible(ui: &Ui, css: &str) {
    wait_js(ui, &format!("`{css}` shown"), &visible_js(css), Duration::from_secs(30));
}

fn wait_route(ui: &Ui, prefix: &str) -> String {
    let value = wait_js(
        ui,
        &format!("the route {prefix}"),
        &format!("location.hash.startsWith({}) && location.hash.slice(1)", json!(format!("#{prefix}"))),
        Duration::from_secs(30),
    );
    value.as_str().unwrap_or_default().to_owned()
}

/// Clicks the element in the page's script (the scripted session's clicks:
/// a toast over the button does not stop them, as it would a finger).
fn js_click(ui: &Ui, css: &str) {
    wait_visible(ui, css);
    ui.js(&format!("document.querySelector({}).click(); return true", json!(css)));
}

/// Starts a watcher in the page.
fn watch(ui: &Ui, name: &str, pred: &str, arg: Json) {
    ui.js(&format!("window.__bench.watch({}, {}, {}); return true", json!(name), json!(pred), arg));
}

/// Waits for a watcher; (frame, painted) in page ms.
fn watched(ui: &Ui, name: &str, timeout: Duration) -> (f64, f64) {
    let value = wait_js(
        ui,
        &format!("the watcher {name}"),
        &format!(
            "(w => w && w.painted != null && [w.frame, w.painted])(window.__bench.watches[{}])",
            json!(name)
        ),
        timeout,
    );
    (value[0].as_f64().unwrap_or(f64::NAN), value[1].as_f64().unwrap_or(f64::NAN))
}

fn mark(ui: &Ui, event: &str) -> f64 {
    ui.js(&format!("return window.__bench.marks[{}] || null", json!(event))).as_f64().unwrap_or(f64::NAN)
}

/// The IPC requests since page time `since`: (command, start, end).
fn ipc_since(ui: &Ui, since: f64) -> Vec<(String, f64, f64)> {
    let value = ui.js(&format!(
        "return window.__bench.ipc.filter(r => r.t0 >= {since}).map(r => [r.cmd, r.t0, r.t1 == null ? -1 : r.t1])"
    ));
    value
        .as_array()
        .map(|all| {
            all.iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap_or_default().to_owned(),
                        r[1].as_f64().unwrap_or(f64::NAN),
                        r[2].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn now_in_page(ui: &Ui) -> f64 {
    ui.js("return performance.now()").as_f64().unwrap_or(f64::NAN)
}

// ------------------------------------------------------------------ setup

struct Setup {
    server: Server,
    driver: TauriDriver,
    app: PathBuf,
    data_dir: PathBuf,
    config_dir: PathBuf,
    grids: Vec<String>,
}

fn setup(residents: usize, app: Option<PathBuf>) -> Setup {
    let started = Instant::now();
    let (mut server, demo) = Server::start_demo();
    let worker = &demo["workers"][0];
    let unit = worker["grid"].as_str().expect("the worker's grid").to_owned();
    let user = worker["user_id"].as_str().expect("the worker's id").to_owned();
    let code = server.enroll_code(&user);
    let grids = vec![format!("{unit}-1"), format!("{unit}-2")];

    // 100,000 more residents in the worker's grid, written as the centre
    // (the store's validated `put`, as the demo itself is written).
    server.stop();
    let path = server.data.path().join("gridwork.db");
    {
        let options =
            Options { durability: Durability::Normal, cache_mib: 64, auto_checkpoint: true, key: None };
        let mut store = Store::open_with(&path, Role::Server, Arc::new(SystemClock), options)
            .expect("the server's store");
        let mut rng = Rng(RESIDENT_SEED);
        for n in 0..residents {
            store.put(Kind::Resident, None, &resident_fields(n, &grids, &mut rng)).expect("a resident");
        }
        store.truncate_log().expect("the log truncated");
    }
    server.serve();
    eprintln!(
        "[bench {:>6.1} s] server: demo city + {residents} residents in {} and {}",
        started.elapsed().as_secs_f64(),
        grids[0],
        grids[1]
    );

    // The tablet: the app's own state on the directories the app will use
    // ($XDG_DATA_HOME/org.gridwork.app, $XDG_CONFIG_HOME/org.gridwork.app),
    // the key in the key file as GRIDWORK_KEY_STORE=file makes the app keep it.
    let driver = TauriDriver::start();
    let data_dir = driver.dirs.path().join("data").join("org.gridwork.app");
    let config_dir = driver.dirs.path().join("config").join("org.gridwork.app");
    {
        let state =
            gridwork_app::AppState::open(&data_dir, gridwork_app::vault::Vault::key_file_only(&config_dir));
        let device = state.device().expect("the device opens");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let enroll = Instant::now();
        runtime.block_on(device.enroll(&server.url, &code, "gridwork-app/bench")).expect("enrolled");
        let enrolled_in = enroll.elapsed();
        let sync = Instant::now();
        let report = runtime.block_on(device.sync(|_| {})).expect("the first sync");
        eprintln!(
            "[bench {:>6.1} s] tablet enrolled in {:.2} s, first sync in {:.1} s: {report:?}",
            started.elapsed().as_secs_f64(),
            enrolled_in.as_secs_f64(),
            sync.elapsed().as_secs_f64()
        );
        let hash = gridwork_app::pin::hash(PIN).expect("a PIN hash");
        gridwork_app::pin::save(&mut device.store(), &hash).expect("the PIN saved");
        let status = state.status().expect("a status");
        assert_eq!(status.phase, gridwork_app::state::Phase::Locked, "the tablet is enrolled with a PIN");
        let count = device
            .store()
            .connection()
            .query_row("SELECT count(*) FROM residents", [], |r| r.get::<_, i64>(0))
            .expect("residents counted");
        eprintln!("[bench] the tablet holds {count} residents");
    }
    // target/<profile>/examples/app_bench -> target/<profile>/gridwork-app
    let app = app.unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("this program's path");
        exe.parent().and_then(Path::parent).expect("the target directory").join("gridwork-app")
    });
    assert!(app.exists(), "{} is missing: cargo build -p gridwork-app --bins --examples", app.display());
    Setup { server, driver, app, data_dir, config_dir, grids }
}

fn open(setup: &Setup) -> Ui {
    Ui::open(&setup.driver, &setup.app, workspace_root().join("target").join("app-bench-failure.png"))
}

/// A new session, unlocked, on Today, the helper installed.
fn unlocked(setup: &Setup) -> Ui {
    let ui = open(setup);
    ui.wait_for(&tid("pin-input"), Duration::from_secs(60));
    ui.type_into(&tid("pin-input"), PIN);
    ui.click(&tid("pin-submit"));
    ui.wait_for(&tid("today-cases"), Duration::from_secs(60));
    install(&ui);
    ui
}

// ------------------------------------------------------------------ 1. start

fn cold_starts(setup: &Setup, runs: usize) {
    println!("\n### Cold start ({runs} fresh starts)\n");
    let mut to_pin_session = Vec::new();
    let mut to_pin_process = Vec::new();
    let mut to_session = Vec::new();
    let mut nav_start = Vec::new();
    let mut to_today = Vec::new();
    let mut unlock_ipc = Vec::new();
    let mut after_unlock = Vec::new();
    for run in 0..runs {
        assert!(app_pid().is_none(), "no app is running before a cold start");
        let requested = unix_ms();
        let ui = open(setup);
        let session = unix_ms();
        let pid = app_pid();
        let process_start = pid.and_then(started_unix_ms);
        // The PIN input, polled as fast as WebDriver answers.
        let deadline = Instant::now() + Duration::from_secs(60);
        let shown = loop {
            if ui.displayed(&tid("pin-input")).is_some() {
                break unix_ms();
            }
            if ui.displayed(&tid("screen-enroll")).is_some() {
                ui.fail("the app shows enrollment: it did not open the prepared database");
            }
            assert!(Instant::now() < deadline, "no PIN screen within 60 s");
            std::thread::sleep(Duration::from_millis(2));
        };
        let origin = ui.js("return performance.timeOrigin").as_f64().unwrap_or(f64::NAN);
        let timing = ui.js("const n = performance.getEntriesByType('navigation')[0] || {}; \
             return [n.domContentLoadedEventEnd || 0, n.loadEventEnd || 0]");
        install(&ui);
        // Unlock: the PIN typed, then the button; Today shown.
        ui.type_into(&tid("pin-input"), PIN);
        let before = now_in_page(&ui);
        watch(&ui, "today", "visible", json!("[data-testid=\"today-cases\"]"));
        ui.click(&tid("pin-submit"));
        let (_, painted) = watched(&ui, "today", Duration::from_secs(60));
        let pressed = mark(&ui, "click");
        let calls = ipc_since(&ui, before);
        let unlock = calls.iter().find(|c| c.0 == "unlock").map(|c| c.2 - c.1).unwrap_or(f64::NAN);
        let unlock_end = calls.iter().find(|c| c.0 == "unlock").map(|c| c.2).unwrap_or(f64::NAN);
        let named: Vec<String> =
            calls.iter().map(|c| format!("{} @{:.0}+{:.0}", c.0, c.1 - pressed, c.2 - c.1)).collect();
        eprintln!(
            "[start {run}] session {:.0} ms, process start +{:.0} ms, navigation +{:.0} ms, DOMContentLoaded {:.0} ms, load {:.0} ms (page), PIN shown {:.0} ms after the request; unlock→Today {:.0} ms ({})",
            session - requested,
            process_start.map_or(f64::NAN, |p| p - requested),
            origin - requested,
            timing[0].as_f64().unwrap_or(0.0),
            timing[1].as_f64().unwrap_or(0.0),
            shown - requested,
            painted - pressed,
            named.join(", ")
        );
        to_pin_session.push(shown - requested);
        to_session.push(session - requested);
        nav_start.push(origin - requested);
        if let Some(start) = process_start {
            to_pin_process.push(shown - start);
        }
        to_today.push(painted - pressed);
        unlock_ipc.push(unlock);
        after_unlock.push(painted - unlock_end);
        drop(ui);
        wait_app_gone();
    }
    println!("| from → to | median ms | min | max | all runs |");
    println!("|---|---:|---:|---:|---|");
    timing_row("session requested → PIN input shown", &to_pin_session);
    timing_row("app process started → PIN input shown", &to_pin_process);
    timing_row("session requested → WebDriver session open", &to_session);
    timing_row("session requested → page navigation start", &nav_start);
    timing_row("unlock pressed → Today shown", &to_today);
    timing_row("of which the `unlock` command (Argon2 check)", &unlock_ipc);
    timing_row("of which `unlock` answered → Today painted", &after_unlock);
}

// ------------------------------------------------------------------ 2. search

struct Keystroke {
    kind: &'static str,
    text: String,
    total: f64,
    debounce: f64,
    ipc: f64,
    render: f64,
    unchanged: bool,
    searches: u64,
}

fn search_texts() -> Vec<(&'static str, Vec<String>)> {
    let names = [
        "王秀英",
        "李建国",
        "张伟",
        "刘芳",
        "陈志强",
        "杨丽",
        "黄海",
        "赵国华",
        "周玉兰",
        "吴小明",
        "徐静",
        "孙春燕",
        "马文",
        "朱德明",
    ];
    let ids = ["330702", "330781", "411522", "511321", "362322", "110105"];
    let phones = ["1381234", "1395678", "1502468", "1861357", "1770000"];
    vec![
        ("name", names.iter().map(|s| (*s).to_owned()).collect()),
        ("ID number", ids.iter().map(|s| (*s).to_owned()).collect()),
        ("phone", phones.iter().map(|s| (*s).to_owned()).collect()),
    ]
}

fn search(setup: &Setup, rounds: usize) {
    let ui = unlocked(setup);
    ui.click(&tid("tab-registry"));
    wait_visible(&ui, &tid("registry-search"));
    let mut strokes: Vec<Keystroke> = Vec::new();
    for round in 0..rounds {
        for (kind, words) in search_texts() {
            for word in words {
                ui.erase(&tid("registry-search"));
                std::thread::sleep(Duration::from_millis(300));
                let mut typed = String::new();
                for ch in word.chars() {
                    typed.push(ch);
                    ui.js("window.__bench.armSearch(); return true");
                    ui.type_into(&tid("registry-search"), &ch.to_string());
                    let value = wait_js(
                        &ui,
                        &format!("the results for {typed:?}"),
                        "(s => s && s.painted != null && [s.since, s.rec.t0, s.rec.t1, s.painted, s.unchanged, s.searches, s.firstMut == null ? -1 : s.firstMut, s.mutFrame])(window.__bench.search)",
                        Duration::from_secs(30),
                    );
                    let since = value[0].as_f64().unwrap_or(f64::NAN);
                    let key = {
                        let down = mark(&ui, "keydown");
                        if down >= since { down } else { mark(&ui, "input") }
                    };
                    let (t0, t1, painted) = (
                        value[1].as_f64().unwrap_or(f64::NAN),
                        value[2].as_f64().unwrap_or(f64::NAN),
                        value[3].as_f64().unwrap_or(f64::NAN),
                    );
                    let unchanged = value[4].as_bool().unwrap_or(false);
                    let first_mutation = value[6].as_f64().unwrap_or(-1.0);
                    let frame = value[7].as_f64().unwrap_or(f64::NAN);
                    strokes.push(Keystroke {
                        kind,
                        text: typed.clone(),
                        total: painted - key,
                        debounce: t0 - key,
                        ipc: t1 - t0,
                        render: painted - t1,
                        unchanged,
                        searches: value[5].as_u64().unwrap_or(0),
                    });
                    let shown = ui.js("return (document.querySelector('[data-testid=\"registry-result-count\"]') || {}).innerText || ''");
                    eprintln!(
                        "[search {round}] {kind} {typed:?}: {:.0} ms (debounce {:.0}, IPC {:.0}, answer → DOM {:.0}, → frame {:.0}, → painted {:.0}){} — {}",
                        painted - key,
                        t0 - key,
                        t1 - t0,
                        first_mutation - t1,
                        frame - t1,
                        painted - t1,
                        if unchanged { " (rows unchanged)" } else { "" },
                        shown.as_str().unwrap_or_default().trim()
                    );
                }
            }
        }
    }
    drop(ui);
    wait_app_gone();

    // The ceiling: the store's own search for the same texts, same database,
    // this process, the app closed; and the same plus the JSON the command
    // builds.
    let key = {
        let vault = gridwork_app::vault::Vault::key_file_only(&setup.config_dir);
        vault.load().expect("the key").expect("a key")
    };
    let store = Store::open_with(
        setup.data_dir.join("gridwork.db"),
        Role::Device,
        Arc::new(SystemClock),
        Options { key: Some(key), ..Options::default() },
    )
    .expect("the tablet's store");
    // First as the app met them: each keystroke's text once, in the order
    // typed, on a freshly opened store (SQLite's page cache empty, as the
    // app's was for residents); then warm, seven times each.
    let first_pass: Vec<f64> = strokes
        .iter()
        .map(|stroke| {
            let start = Instant::now();
            std::hint::black_box(store.find_residents(&stroke.text, 50).expect("a search"));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let mut ceiling: Vec<(&'static str, String, f64, f64, usize)> = Vec::new();
    for stroke in &strokes {
        if ceiling.iter().any(|c| c.1 == stroke.text) {
            continue;
        }
        let (mut query, mut with_json) = (Vec::new(), Vec::new());
        let mut found = 0;
        for _ in 0..7 {
            let start = Instant::now();
            std::hint::black_box(store.find_residents(&stroke.text, 50).expect("a search"));
            query.push(start.elapsed().as_secs_f64() * 1000.0);
            let start = Instant::now();
            let records = store.find_residents(&stroke.text, 50).expect("a search");
            let body: Vec<Json> = records.iter().map(gridwork_domain::Record::to_json).collect();
            let text = serde_json::to_string(&body).expect("JSON");
            with_json.push(start.elapsed().as_secs_f64() * 1000.0);
            found = records.len();
            std::hint::black_box(text);
        }
        ceiling.push((stroke.kind, stroke.text.clone(), median(&query), median(&with_json), found));
    }

    println!("\n### Search as typed, {} keystrokes\n", strokes.len());
    println!(
        "| search | keystrokes | keystroke → painted p50 ms | p95 | max | of which: debounce p50 | IPC round trip p50 / p95 | answer → painted p50 | ceiling: `find_residents` once each, in typing order, p50 / p95 ms | ceiling warm p50 / p95 ms | warm + JSON p50 / p95 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---|---|---|");
    for kind in ["name", "ID number", "phone"] {
        let of: Vec<&Keystroke> = strokes.iter().filter(|s| s.kind == kind).collect();
        let get = |f: fn(&Keystroke) -> f64| of.iter().map(|s| f(s)).collect::<Vec<f64>>();
        let (total, debounce, ipc, render) =
            (get(|s| s.total), get(|s| s.debounce), get(|s| s.ipc), get(|s| s.render));
        let first: Vec<f64> =
            strokes.iter().zip(&first_pass).filter(|(s, _)| s.kind == kind).map(|(_, t)| *t).collect();
        let ceil: Vec<f64> =
            of.iter().map(|s| ceiling.iter().find(|c| c.1 == s.text).map_or(f64::NAN, |c| c.2)).collect();
        let ceil_json: Vec<f64> =
            of.iter().map(|s| ceiling.iter().find(|c| c.1 == s.text).map_or(f64::NAN, |c| c.3)).collect();
        println!(
            "| {kind} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} / {:.1} | {:.1} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} |",
            of.len(),
            median(&total),
            pct(&total, 95.0),
            pct(&total, 100.0),
            median(&debounce),
            median(&ipc),
            pct(&ipc, 95.0),
            median(&render),
            median(&first),
            pct(&first, 95.0),
            median(&ceil),
            pct(&ceil, 95.0),
            median(&ceil_json),
            pct(&ceil_json, 95.0),
        );
    }
    let unchanged = strokes.iter().filter(|s| s.unchanged).count();
    let doubled = strokes.iter().filter(|s| s.searches != 1).count();
    println!(
        "\n{unchanged} keystrokes left the rows as they were (their time is to the answer, not to a paint); {doubled} ran other than one search."
    );
    println!("\nSlowest texts (keystroke → painted, ms; ceiling ms; matches):\n");
    let mut slow: Vec<(&Keystroke, f64)> = strokes.iter().zip(first_pass.iter().copied()).collect();
    slow.sort_by(|a, b| b.0.total.total_cmp(&a.0.total));
    for (s, first) in slow.iter().take(10) {
        let c = ceiling.iter().find(|c| c.1 == s.text);
        println!(
            "- {} {:?}: {:.0} (IPC {:.0}, render {:.0}); store once {first:.2}, warm {:.2}, warm with JSON {:.2}; {} matches",
            s.kind,
            s.text,
            s.total,
            s.ipc,
            s.render,
            c.map_or(f64::NAN, |c| c.2),
            c.map_or(f64::NAN, |c| c.3),
            c.map_or(0, |c| c.4)
        );
    }
    println!("\nPer text (median over rounds: keystroke → painted ms / ceiling ms):\n");
    let mut texts: Vec<(&str, String)> = Vec::new();
    for s in &strokes {
        if !texts.iter().any(|t| t.1 == s.text) {
            texts.push((s.kind, s.text.clone()));
        }
    }
    let line: Vec<String> = texts
        .iter()
        .map(|(_, text)| {
            let totals: Vec<f64> = strokes.iter().filter(|s| &s.text == text).map(|s| s.total).collect();
            let c = ceiling.iter().find(|c| &c.1 == text).map_or(f64::NAN, |c| c.2);
            format!("{text} {:.0}/{c:.1}", median(&totals))
        })
        .collect();
    println!("{}", line.join("; "));
}

// ------------------------------------------------------------------ 3. photos

fn photos(setup: &Setup, runs: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Sensor noise that makes a 4000x3000 JPEG (quality 90) about 3 MB.
    let mut noise = 10.0f32;
    let (mut low, mut high) = (0.0f32, 60.0f32);
    for _ in 0..8 {
        let size = camera_jpeg(1, noise).len() as f64 / 1e6;
        if (2.9..=3.1).contains(&size) {
            break;
        }
        if size < 3.0 {
            low = noise;
        } else {
            high = noise;
        }
        noise = (low + high) / 2.0;
    }
    let mut files = Vec::new();
    for i in 0..2 * runs {
        let bytes = camera_jpeg(100 + i as u64, noise);
        let path = dir.path().join(format!("IMG_{:04}.jpg", 1000 + i));
        std::fs::write(&path, &bytes).expect("the photo written");
        files.push((path, bytes.len()));
    }
    let sizes: Vec<f64> = files.iter().map(|f| f.1 as f64 / 1e6).collect();
    eprintln!("[photos] {} photos 4000x3000, noise {noise:.1}: {:?} MB", files.len(), sizes);

    let ui = unlocked(setup);
    let mut thumb = Vec::new();
    let mut read_file = Vec::new();
    let mut add_photo = Vec::new();
    let mut thumb_after = Vec::new();
    let mut save_page = Vec::new();
    let mut save_photos = Vec::new();
    let mut save_put = Vec::new();
    for run in 0..runs {
        ui.click(&tid("tab-cases"));
        ui.click(&tid("report-case"));
        wait_route(&ui, "/cases/new");
        ui.click(&tid("field-category"));
        ui.click(&tid("field-category-public_facilities"));
        ui.type_into(&tid("field-description"), "东苑路1号门口井盖破损，夜间有行人绊倒的危险");
        ui.type_into(&tid("field-location"), "东苑路1号门口");
        for n in 1..=2 {
            let (path, _) = &files[2 * run + n - 1];
            let before = now_in_page(&ui);
            watch(&ui, "thumb", "imgs", json!(["[data-testid=\"photo-thumb\"] img", n]));
            ui.choose_file(&tid("photo-input"), path);
            let (_, painted) = watched(&ui, "thumb", Duration::from_secs(120));
            let changed = mark(&ui, "change");
            let calls = ipc_since(&ui, before);
            let add = calls.iter().find(|c| c.0 == "add_photo");
            let fetch = calls.iter().rev().find(|c| c.0 == "photo");
            thumb.push(painted - changed);
            read_file.push(add.map_or(f64::NAN, |a| a.1 - changed));
            add_photo.push(add.map_or(f64::NAN, |a| a.2 - a.1));
            thumb_after.push(add.map_or(f64::NAN, |a| painted - a.2));
            eprintln!(
                "[photos {run}] photo {n}: change → thumbnail {:.0} ms (file read {:.0}, add_photo {:.0}, photo {:.0}, then {:.0})",
                painted - changed,
                add.map_or(f64::NAN, |a| a.1 - changed),
                add.map_or(f64::NAN, |a| a.2 - a.1),
                fetch.map_or(f64::NAN, |f| f.2 - f.1),
                add.map_or(f64::NAN, |a| painted - a.2)
            );
        }
        let before = now_in_page(&ui);
        watch(&ui, "page", "casePage", json!(2));
        watch(&ui, "photos", "casePhotos", json!(2));
        ui.click(&tid("form-save"));
        let (_, page) = watched(&ui, "page", Duration::from_secs(60));
        let (_, shown) = watched(&ui, "photos", Duration::from_secs(60));
        let pressed = mark(&ui, "click");
        let calls = ipc_since(&ui, before);
        let put = calls.iter().find(|c| c.0 == "put_record").map_or(f64::NAN, |c| c.2 - c.1);
        let named: Vec<String> =
            calls.iter().map(|c| format!("{} @{:.0}+{:.0}", c.0, c.1 - pressed, c.2 - c.1)).collect();
        eprintln!(
            "[photos {run}] save → case page {:.0} ms, its photos {:.0} ms ({})",
            page - pressed,
            shown - pressed,
            named.join(", ")
        );
        save_page.push(page - pressed);
        save_photos.push(shown - pressed);
        save_put.push(put);
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(ui);
    wait_app_gone();
    println!(
        "\n### A case with two photos ({runs} cases; photos 4000x3000 JPEG, {:.2}–{:.2} MB)\n",
        pct(&sizes, 0.0),
        pct(&sizes, 100.0)
    );
    println!("| from → to | median ms | min | max | all |");
    println!("|---|---:|---:|---:|---|");
    timing_row("photo chosen → its thumbnail shown", &thumb);
    timing_row("of which reading the file in the page", &read_file);
    timing_row("of which `add_photo` (3 MB over IPC, decode, shrink to 1600 px, JPEG, store)", &add_photo);
    timing_row("of which `add_photo` answered → thumbnail painted", &thumb_after);
    timing_row("save pressed → the case's page shown", &save_page);
    timing_row("save pressed → the case's photos shown", &save_photos);
    timing_row("of which `put_record`", &save_put);

    // The ceiling of `add_photo`: the app's own shrink and store write, in
    // this process (same build), on the same files, no IPC and no page.
    let key =
        gridwork_app::vault::Vault::key_file_only(&setup.config_dir).load().expect("the key").expect("a key");
    let mut store = Store::open_with(
        setup.data_dir.join("gridwork.db"),
        Role::Device,
        Arc::new(SystemClock),
        Options { key: Some(key), ..Options::default() },
    )
    .expect("the tablet's store");
    let (mut shrink, mut stored) = (Vec::new(), Vec::new());
    for (path, _) in &files {
        let bytes = std::fs::read(path).expect("the photo");
        let start = Instant::now();
        let shrunk = gridwork_app::photos::shrink(&bytes).expect("shrunk");
        shrink.push(start.elapsed().as_secs_f64() * 1000.0);
        // A byte past the end makes it a photo the store does not hold yet.
        let mut jpeg = shrunk.jpeg;
        jpeg.push(0);
        let start = Instant::now();
        store.add_photo(&jpeg, shrunk.width, shrunk.height).expect("stored");
        stored.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    timing_row("ceiling: `photos::shrink` in this process, same files", &shrink);
    timing_row("ceiling: the store's `add_photo` of the shrunk JPEG", &stored);
}

// ------------------------------------------------------------------ 4. memory

struct Session<'a> {
    ui: &'a Ui,
    op: usize,
    counts: [usize; 5],
    times: [Vec<f64>; 5],
}

const OPS: [&str; 5] = ["search", "open", "edit", "visit", "tab"];

impl Session<'_> {
    fn timed(&mut self, kind: usize, work: impl FnOnce(&Ui)) {
        let start = Instant::now();
        work(self.ui);
        self.times[kind].push(start.elapsed().as_secs_f64() * 1000.0);
        self.counts[kind] += 1;
        self.op += 1;
    }

    fn tab(&mut self, tab: &str, ready: &str) {
        let (tab, ready) = (tab.to_owned(), ready.to_owned());
        self.timed(4, move |ui| {
            js_click(ui, &tid(&format!("tab-{tab}")));
            wait_route(ui, &format!("/{tab}"));
            wait_visible(ui, &ready);
        });
    }

    fn search(&mut self, text: &str) {
        let text = text.to_owned();
        self.timed(0, move |ui| {
            ui.erase(&tid("registry-search"));
            ui.js("window.__bench.armSearch(); return true");
            ui.type_into(&tid("registry-search"), &text);
            wait_js(
                ui,
                &format!("the results for {text:?}"),
                "(s => s && s.painted != null)(window.__bench.search)",
                Duration::from_secs(30),
            );
            wait_visible(ui, &tid("registry-result"));
        });
    }

    fn open(&mut self, k: usize) {
        self.timed(1, move |ui| {
            ui.js(&format!(
                "const r = document.querySelectorAll('[data-testid=\"registry-result\"]'); if (r.length) r[{k} % r.length].click(); return r.length"
            ));
            wait_route(ui, "/record/resident/");
            wait_visible(ui, &tid("view-name"));
        });
    }

    fn edit(&mut self, phone: &str) {
        let phone = phone.to_owned();
        self.timed(2, move |ui| {
            let route = ui.route();
            js_click(ui, &tid("record-edit"));
            wait_route(ui, &format!("{route}/edit"));
            wait_visible(ui, &tid("field-phone"));
            ui.erase(&tid("field-phone"));
            ui.type_into(&tid("field-phone"), &phone);
            js_click(ui, &tid("form-save"));
            wait_js(
                ui,
                "the edited resident",
                &format!(
                    "location.hash === {} && (e => !!e && e.innerText.includes({}))(document.querySelector('[data-testid=\"view-phone\"]'))",
                    json!(format!("#{route}")),
                    json!(phone)
                ),
                Duration::from_secs(30),
            );
        });
    }

    fn visit(&mut self, n: usize) {
        self.timed(3, move |ui| {
            let route = ui.route();
            let t = Instant::now();
            let mut steps = Vec::new();
            let mut step = |what: &str| steps.push(format!("{what} {:.0}", t.elapsed().as_secs_f64() * 1000.0));
            js_click(ui, &tid("visit"));
            wait_route(ui, "/new/visit");
            step("form");
            js_click(ui, &tid("field-purpose"));
            step("popup");
            js_click(ui, &tid("field-purpose-routine"));
            wait_js(
                ui,
                "the purpose chosen",
                &format!(
                    "!{} && document.querySelector('[data-testid=\"field-purpose\"]').innerText.includes('日常走访')",
                    visible_js(&tid("field-purpose-routine"))
                ),
                Duration::from_secs(30),
            );
            step("picked");
            ui.type_into(&tid("field-notes"), &format!("入户走访第{n}次，家中一切正常"));
            step("typed");
            js_click(ui, &tid("form-save"));
            step("saved");
            wait_js(
                ui,
                "back on the resident",
                &format!("location.hash === {}", json!(format!("#{route}"))),
                Duration::from_secs(30),
            );
            wait_visible(ui, &tid("view-name"));
            step("back");
            if n % 50 == 4 {
                eprintln!("[memory] a visit as driven, ms from its start: {}", steps.join(", "));
            }
        });
    }
}

fn memory_session(setup: &Setup, ops: usize) {
    let ui = unlocked(setup);
    std::thread::sleep(Duration::from_secs(3));
    println!("\n### Memory over a scripted session\n");
    let before = memory();
    let mut totals = vec![print_memory("after unlocking, on Today (before)", &before)];
    let idle = Duration::from_secs(20);
    print_idle("on Today, before", idle, &idle_cpu(idle));
    let dom = "return [document.getElementsByTagName('*').length, history.length]";
    let page = ui.js(dom);
    println!("- DOM elements {}, history entries {}", page[0], page[1]);
    // Two-character name prefixes of residents that exist (the setup's own
    // sequence, replayed), and ID-number prefixes: region and birth decade.
    let names: Vec<String> = {
        let mut rng = Rng(RESIDENT_SEED);
        (0..400)
            .map(|n| match &resident_fields(n, &setup.grids, &mut rng)[1].1 {
                Value::Text(name) => name.chars().take(2).collect(),
                _ => "王".to_owned(),
            })
            .collect()
    };
    let ids = ["330702", "330703", "330781", "411522", "511321", "362322", "110105"];
    let decades = ["19", "195", "196", "197", "198", "20"];
    let others = [
        ("cases", tid("report-case")),
        ("sync", tid("sync-pending")),
        ("patrol", "[data-testid=\"start-patrol\"], [data-testid=\"end-patrol\"]".to_owned()),
    ];
    let mut session = Session { ui: &ui, op: 0, counts: [0; 5], times: Default::default() };
    let started = Instant::now();
    let mut series = Vec::new();
    for phase in 1..=2 {
        let goal = phase * ops;
        let mut cycle = session.op / 10;
        while session.op < goal {
            session.tab("registry", &tid("registry-search"));
            session.search(&names[cycle % names.len()]);
            session.open(cycle);
            session.edit(&format!("139{:08}", 10_000_000 + session.op));
            session.visit(session.op);
            session.tab("today", &tid("today-cases"));
            session.tab("registry", &tid("registry-search"));
            session.search(&format!("{}{}", ids[cycle % ids.len()], decades[cycle % decades.len()]));
            session.open(cycle / 3);
            let (tab, ready) = &others[cycle % others.len()];
            session.tab(tab, ready);
            cycle += 1;
            if session.op.is_multiple_of(100) {
                let mem = memory();
                let total: f64 = mem.iter().map(|m| m.2).sum();
                let app = mem.first().map_or(0.0, |m| m.2);
                series.push(format!("{}: {total:.0} (app {app:.0})", session.op));
                let page = ui.js(dom);
                eprintln!(
                    "[memory] {} ops in {:.0} s: total {total:.0} MiB, app {app:.0} MiB; DOM elements {}, history entries {}",
                    session.op,
                    started.elapsed().as_secs_f64(),
                    page[0],
                    page[1]
                );
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        let mem = memory();
        totals.push(print_memory(&format!("after {} operations", session.op), &mem));
        let page = ui.js(dom);
        println!("- DOM elements {}, history entries {}", page[0], page[1]);
    }
    println!("\nTotal RSS (MiB) every 100 operations: {}", series.join(", "));
    println!(
        "\nOperations: {} in {:.0} s; {}",
        session.op,
        started.elapsed().as_secs_f64(),
        OPS.iter()
            .enumerate()
            .map(|(i, name)| format!(
                "{name} ×{} (p50 {:.0} ms as driven)",
                session.counts[i],
                median(&session.times[i])
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    js_click(&ui, &tid("tab-today"));
    wait_visible(&ui, &tid("today-cases"));
    std::thread::sleep(Duration::from_secs(3));
    print_idle("on Today, after the session", idle, &idle_cpu(idle));
    let sync = ui.text(&tid("tab-sync"));
    eprintln!("[memory] the sync tab shows {sync:?}");
    drop(ui);
    wait_app_gone();
    println!(
        "\nGrowth: {:+.1} MiB over the first {ops} operations, {:+.1} MiB over the next {ops}.",
        totals[1] - totals[0],
        totals[2] - totals[1]
    );
}

// ------------------------------------------------------------------ 5. idle

/// CPU of an app left alone on each main screen, and what in the page is
/// animating meanwhile (`document.getAnimations()`).
fn idle(setup: &Setup) {
    let ui = unlocked(setup);
    println!("\n### Left alone on each screen\n");
    let window = Duration::from_secs(20);
    for (tab, ready) in [
        ("today", tid("today-cases")),
        ("registry", tid("registry-search")),
        ("cases", tid("report-case")),
        ("sync", tid("sync-pending")),
        ("patrol", tid("start-patrol")),
    ] {
        js_click(&ui, &tid(&format!("tab-{tab}")));
        wait_visible(&ui, &ready);
        let overflow = ui.js(
            "const e = document.querySelector('.gw-scroll'); return e ? [e.scrollHeight, e.clientHeight] : null",
        );
        let early: Vec<String> = (0..10)
            .map(|_| {
                let two = Duration::from_secs(2);
                let cpu = idle_cpu(two);
                let web = cpu.iter().filter(|c| c.0.starts_with("WebKitWeb")).map(|c| c.1).sum::<f64>();
                format!("{:.0}", web / two.as_secs_f64() / 10.0)
            })
            .collect();
        println!(
            "- on {tab} (scroll box height / shown {overflow}): web process CPU %, 2 s windows from arriving: {}",
            early.join(", ")
        );
        std::thread::sleep(Duration::from_secs(3));
        let animations = ui.js(
            "return document.getAnimations().filter(a => a.playState === 'running').map(a => \
               (a.animationName || a.transitionProperty || 'animation') + ' on ' + \
               (a.effect && a.effect.target ? (a.effect.target.className.baseVal ?? a.effect.target.className) : '?') + \
               (a.effect && a.effect.target && a.effect.target.getClientRects().length === 0 ? ' (not displayed)' : ''))",
        );
        print_idle(&format!("on {tab}"), window, &idle_cpu(window));
        println!("  running animations: {animations}");
        // The same, 5 s at a time for a minute more: does it last?
        let web: Vec<String> = (0..12)
            .map(|_| {
                let five = Duration::from_secs(5);
                let cpu = idle_cpu(five);
                let web = cpu.iter().filter(|c| c.0.starts_with("WebKitWeb")).map(|c| c.1).sum::<f64>();
                format!("{:.0}", web / five.as_secs_f64() / 10.0)
            })
            .collect();
        println!("  web process CPU %, 5 s windows from 23 s after arriving: {}", web.join(", "));
        let styled = ui.js(
            "return [...document.querySelectorAll('*')].filter(e => getComputedStyle(e).animationName !== 'none').map(e => \
               e.tagName + '.' + (e.className.baseVal ?? e.className) + ' ' + getComputedStyle(e).animationName + \
               ' ' + getComputedStyle(e).animationIterationCount + (e.getClientRects().length ? '' : ' (not displayed)'))",
        );
        let focus = ui.js("const a = document.activeElement; return a ? a.tagName + ' ' + (a.dataset.testid || a.className) : null");
        println!("  elements with a CSS animation: {styled}; focus: {focus}");
        if tab == "today" {
            // The animated elements taken out of the page (display: none): does the page go quiet?
            ui.js(
                "[...document.querySelectorAll('*')].filter(e => getComputedStyle(e).animationName !== 'none').forEach(e => e.style.display = 'none'); return true",
            );
            std::thread::sleep(Duration::from_secs(2));
            print_idle("on today, its animated elements hidden", window, &idle_cpu(window));
        }
    }
    // The same arrivals with the scroll box's scrollbar styled away (custom
    // `::-webkit-scrollbar` replaces GTK's overlay scrollbar).
    ui.js(
        "const s = document.createElement('style'); s.textContent = '.gw-scroll::-webkit-scrollbar { width: 0; height: 0; }'; document.head.appendChild(s); return true",
    );
    for (tab, ready) in
        [("today", tid("today-cases")), ("sync", tid("sync-pending")), ("registry", tid("registry-search"))]
    {
        js_click(&ui, &tid(&format!("tab-{tab}")));
        wait_visible(&ui, &ready);
        let early: Vec<String> = (0..10)
            .map(|_| {
                let two = Duration::from_secs(2);
                let cpu = idle_cpu(two);
                let web = cpu.iter().filter(|c| c.0.starts_with("WebKitWeb")).map(|c| c.1).sum::<f64>();
                format!("{:.0}", web / two.as_secs_f64() / 10.0)
            })
            .collect();
        println!(
            "- on {tab}, no overlay scrollbar: web process CPU %, 2 s windows from arriving: {}",
            early.join(", ")
        );
    }
    drop(ui);
    wait_app_gone();
}

// ------------------------------------------------------------------ main

fn main() {
    let mut part = "all".to_owned();
    let mut residents = 100_000;
    let mut starts = 7;
    let mut rounds = 1;
    let mut cases = 5;
    let mut ops = 1000;
    let mut app = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--part" => part = value(),
            "--residents" => residents = value().parse().expect("a number"),
            "--starts" => starts = value().parse().expect("a number"),
            "--rounds" => rounds = value().parse().expect("a number"),
            "--cases" => cases = value().parse().expect("a number"),
            "--ops" => ops = value().parse().expect("a number"),
            "--app" => app = Some(PathBuf::from(value())),
            other => panic!(
                "unknown argument {other}: --part start|search|photos|memory|all|idle, --residents N, --starts N, --rounds N, --cases N, --ops N, --app PATH"
            ),
        }
    }
    assert!(
        std::env::var("DISPLAY").is_ok_and(|d| !d.trim().is_empty()),
        "needs a display: xvfb-run -a -s \"-screen 0 1280x800x24\" target/debug/examples/app_bench"
    );
    let begun = Instant::now();
    let setup = setup(residents, app);
    eprintln!("[bench] setup took {:.0} s", begun.elapsed().as_secs_f64());
    println!(
        "## app_bench --part {part}: {residents} residents in the worker's grid (plus the demo city's); app {}",
        setup.app.display()
    );
    println!("(grids {}; server {})", setup.grids.join(", "), setup.server.url);
    if part == "start" || part == "all" {
        cold_starts(&setup, starts);
    }
    if part == "search" || part == "all" {
        search(&setup, rounds);
    }
    if part == "photos" || part == "all" {
        photos(&setup, cases);
    }
    if part == "memory" || part == "all" {
        memory_session(&setup, ops);
    }
    if part == "idle" {
        idle(&setup);
    }
    eprintln!("[bench] done in {:.0} s", begun.elapsed().as_secs_f64());
}
