//! Every example in `docs/USER_GUIDE.md` and `docs/GATEWAY.md`, run: the guides cannot drift
//! from the binary, the HTTP API or the SDK.
//!
//! A guide's examples are fenced code blocks, read in order:
//!
//! - ```` ```sh test ````: each line starting with `$ ` is a command (a line ending in `\`
//!   continues it), run with `sh` in one scratch directory shared by the whole guide, with the
//!   `flashback` under test first on `PATH`; its stdout and stderr, merged as a terminal shows
//!   them, must match the lines that follow it (see [`Pattern`]). A command with no line after
//!   it must only succeed. Attributes after `test`:
//!   - `as=NAME`: run as a person whose node keeps its data in `<scratch>/NAME`
//!     (`FLASHBACK_DATA_DIR`), so that light-client commands find that node through its
//!     `node.json` and `node run` uses that data dir: the guide's provider and consumer each
//!     have their own machine, here their own directory;
//!   - `background`: each command keeps running until the test ends (a node, or a `curl -N`
//!     following events); `wait=FILE` waits for FILE to appear with something in it (a node's
//!     `node.json`, the headers `curl -D FILE` writes once the answer starts) before going on;
//!   - `eventually`: each command is run again until its output matches, up to a deadline
//!     (gossip takes a moment to reach the other node).
//! - ```` ```sh no-test ````: an example that cannot run here (a production address, a
//!   minute-long testnet that `tests/testnet.rs` runs); it must say so, so that no example is
//!   left untested by accident. A ```` ```sh ```` block with neither word fails this test.
//! - a block with `file=NAME` (```` ```toml file=provider.toml ````): written to NAME in the
//!   scratch directory, for the commands after it (config and offer files).
//!
//! Other blocks (```` ```text ````, ```` ```toml ```` without `file=`) are not run.
//!
//! `cargo run -p flashback-client --example gateway -- ARGS` (in `docs/GATEWAY.md`) runs the
//! SDK's example in this test's process: the example is compiled into this test
//! ([`gateway_example`]), its arguments are expanded by `sh` as any command's, and what it
//! prints is matched as any command's output.
//!
//! To add an example to the guide: write the commands and the output a person would see,
//! replace what changes from run to run with `…` or a `{NAME}` capture, and run
//! `cargo test -p flashback --test guide`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

// The SDK's gateway example, whose `run` the gateway guide's SDK step calls (its `main` is the
// example's own).
#[path = "../crates/client/examples/gateway.rs"]
#[allow(dead_code, unreachable_pub)]
mod gateway_example;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ChildGuard, DEADLINE, flashback_bin};

const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs");

/// The command that runs the SDK's gateway example.
const SDK_EXAMPLE: &str = "cargo run -p flashback-client --example gateway --";

/// A fenced block of the guide.
#[derive(Debug)]
enum Block {
    /// Commands with their expected output.
    Test {
        line: usize,
        attrs: Attrs,
        steps: Vec<Step>,
    },
    /// A file to write.
    File { name: String, text: String },
}

#[derive(Debug, Default)]
struct Attrs {
    role: Option<String>,
    background: bool,
    wait: Option<String>,
    eventually: bool,
}

/// One command and the patterns its output must match.
#[derive(Debug)]
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
}

/// The blocks of the guide `doc` (`docs/<name>`), in order; an `sh` block without `test` or
/// `no-test` is an error.
fn parse(doc: &str, text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let words: Vec<&str> = info.split_whitespace().collect();
        let body: Vec<(usize, &str)> = lines
            .by_ref()
            .take_while(|(_, l)| !l.trim_start().starts_with("```"))
            .map(|(i, l)| (i + 1, l))
            .collect();
        let attr = |key: &str| {
            words
                .iter()
                .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                .map(str::to_owned)
        };
        if let Some(name) = attr("file") {
            let mut text: String = body.iter().map(|(_, l)| format!("{l}\n")).collect();
            if text.is_empty() {
                text.push('\n');
            }
            blocks.push(Block::File { name, text });
            continue;
        }
        if words.first() != Some(&"sh") {
            continue;
        }
        if words.contains(&"no-test") {
            continue;
        }
        assert!(
            words.contains(&"test"),
            "{doc} line {}: a ```sh block must say `test` (run by tests/guide.rs) or \
             `no-test` (and why, in the text)",
            n + 1
        );
        let attrs = Attrs {
            role: attr("as"),
            background: words.contains(&"background"),
            wait: attr("wait"),
            eventually: words.contains(&"eventually"),
        };
        let mut steps: Vec<Step> = Vec::new();
        let mut continuing = false;
        for (i, l) in body {
            if continuing {
                let step = steps.last_mut().unwrap();
                step.command.push('\n');
                step.command.push_str(l);
                continuing = l.ends_with('\\');
            } else if let Some(cmd) = l.strip_prefix("$ ") {
                steps.push(Step {
                    line: i,
                    command: cmd.to_owned(),
                    expected: Vec::new(),
                });
                continuing = cmd.ends_with('\\');
            } else {
                let step = steps
                    .last_mut()
                    .unwrap_or_else(|| panic!("{doc} line {i}: output before a `$ ` command"));
                step.expected.push(l.to_owned());
            }
        }
        blocks.push(Block::Test {
            line: n + 1,
            attrs,
            steps,
        });
    }
    blocks
}

/// An expected line. `...` alone stands for any number of lines; in a line, `…` stands for any
/// text and `{NAME}` for a word (no spaces), which is kept as `$NAME` for later commands and
/// patterns; `$NAME` is replaced by a kept word; `[exit N]`, last, is the exit status expected
/// (0 otherwise).
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Any,
    Capture(String),
}

fn pieces(pattern: &str, vars: &BTreeMap<String, String>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        let name_at = |s: &str| -> usize {
            s.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(s.len())
        };
        if c == '…' {
            out.push(Piece::Text(std::mem::take(&mut text)));
            out.push(Piece::Any);
            rest = &rest[c.len_utf8()..];
        } else if c == '{'
            && let Some(end) = rest.find('}')
            && end > 1
            && name_at(&rest[1..]) == end - 1
        {
            out.push(Piece::Text(std::mem::take(&mut text)));
            out.push(Piece::Capture(rest[1..end].to_owned()));
            rest = &rest[end + 1..];
        } else if c == '$'
            && name_at(&rest[1..]) > 0
            && vars.contains_key(&rest[1..1 + name_at(&rest[1..])])
        {
            let len = name_at(&rest[1..]);
            text.push_str(&vars[&rest[1..1 + len]]);
            rest = &rest[1 + len..];
        } else {
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push(Piece::Text(text));
    out.retain(|p| p != &Piece::Text(String::new()));
    out
}

/// Matches one line against pieces; the captures on success.
fn match_line(pieces: &[Piece], line: &str) -> Option<Vec<(String, String)>> {
    match pieces.split_first() {
        None => line.is_empty().then(Vec::new),
        Some((Piece::Text(t), rest)) => match_line(rest, line.strip_prefix(t.as_str())?),
        Some((Piece::Any, rest)) => line
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(line.len()))
            .find_map(|i| match_line(rest, &line[i..])),
        Some((Piece::Capture(name), rest)) => {
            let word_end = line.find(char::is_whitespace).unwrap_or(line.len());
            (1..=word_end)
                .filter(|&i| line.is_char_boundary(i))
                .rev()
                .find_map(|i| {
                    let mut found = match_line(rest, &line[i..])?;
                    found.push((name.clone(), line[..i].to_owned()));
                    Some(found)
                })
        }
    }
}

/// Matches output lines against expected lines (`...` skips any number); the captures.
fn match_lines(
    expected: &[String],
    actual: &[&str],
    vars: &BTreeMap<String, String>,
) -> Option<Vec<(String, String)>> {
    match expected.split_first() {
        None => actual.is_empty().then(Vec::new),
        Some((e, rest)) if e.trim() == "..." => {
            (0..=actual.len()).find_map(|skip| match_lines(rest, &actual[skip..], vars))
        }
        Some((e, rest)) => {
            let (first, others) = actual.split_first()?;
            let mut here = match_line(&pieces(e, vars), first.trim_end())?;
            let mut vars = vars.clone();
            vars.extend(here.iter().cloned());
            here.extend(match_lines(rest, others, &vars)?);
            Some(here)
        }
    }
}

/// The guide being run (`docs/<name>`, for messages), the scratch directory, the variables
/// kept so far and the processes left running (with their commands).
struct Guide {
    doc: String,
    dir: tempfile::TempDir,
    vars: BTreeMap<String, String>,
    background: Vec<(String, ChildGuard)>,
}

impl Guide {
    /// `sh` running `command` with stderr on stdout; `exec`, for a command left running, so
    /// that the process kept (and stopped at the end) is the command itself.
    fn command(&self, attrs: &Attrs, command: &str) -> Command {
        let bin_dir = flashback_bin().parent().unwrap().to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin_dir];
        paths.extend(std::env::split_paths(&path));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(if attrs.background {
                format!("exec 2>&1\nexec {command}")
            } else {
                format!("exec 2>&1\n{command}")
            })
            .current_dir(self.dir.path())
            .env("PATH", std::env::join_paths(paths).unwrap())
            .env("HOME", self.dir.path())
            .env_remove("FLASHBACK_NODE")
            .env_remove("FLASHBACK_CONFIG")
            .env_remove("FLASHBACK_KEY")
            .env_remove("RUST_LOG")
            .envs(&self.vars)
            .stdin(Stdio::null());
        match &attrs.role {
            Some(role) => cmd.env("FLASHBACK_DATA_DIR", self.dir.path().join(role)),
            None => cmd.env_remove("FLASHBACK_DATA_DIR"),
        };
        cmd
    }

    /// Runs one step to completion (with a deadline): exit status and output.
    fn run(&self, attrs: &Attrs, step: &Step) -> (i32, String) {
        if let Some(args) = step.command.strip_prefix(SDK_EXAMPLE) {
            return self.run_sdk_example(attrs, step, args);
        }
        let mut child = self
            .command(attrs, &step.command)
            .stdout(Stdio::piped())
            .spawn()
            .expect("runs sh");
        let mut out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} line {}: `{}` did not finish within {DEADLINE:?}",
                    self.doc, step.line, step.command
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.code().unwrap_or(-1), reader.join().unwrap())
    }

    /// The SDK's gateway example with `args` (as `sh` expands them), run here: its exit
    /// status (1 when it returns an error, printed as `Error: …` as `main` would) and output.
    fn run_sdk_example(&self, attrs: &Attrs, step: &Step, args: &str) -> (i32, String) {
        let expanded = self
            .command(attrs, &format!("printf '%s\\n' {args}"))
            .output()
            .expect("runs sh");
        let args: Vec<String> = String::from_utf8(expanded.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let [base, token] = args.as_slice() else {
            panic!(
                "{} line {}: the SDK example takes the API's base URL and the token, not {args:?}",
                self.doc, step.line
            );
        };
        let mut out = Vec::new();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        // The timer is made inside the runtime: `timeout` needs its reactor when created.
        let result = runtime.block_on(async {
            tokio::time::timeout(DEADLINE, gateway_example::run(base, token, &mut out)).await
        });
        let mut out = String::from_utf8(out).unwrap();
        match result {
            Ok(Ok(())) => (0, out),
            Ok(Err(e)) => {
                out.push_str(&format!("Error: {e:?}\n"));
                (1, out)
            }
            Err(_) => panic!(
                "{} line {}: the SDK example did not finish within {DEADLINE:?}",
                self.doc, step.line
            ),
        }
    }

    fn check(&self, step: &Step, code: i32, output: &str) -> Result<Vec<(String, String)>, String> {
        let mut expected = step.expected.clone();
        let want_code = match expected.last().and_then(|l| {
            l.trim()
                .strip_prefix("[exit ")
                .and_then(|r| r.strip_suffix(']'))
        }) {
            Some(code) => {
                let code = code.parse().expect("[exit N] holds a number");
                expected.pop();
                code
            }
            None => 0,
        };
        if code != want_code {
            return Err(format!("exit status {code}, expected {want_code}"));
        }
        if expected.is_empty() {
            return Ok(Vec::new());
        }
        let lines: Vec<&str> = output.lines().collect();
        match_lines(&expected, &lines, &self.vars)
            .ok_or_else(|| format!("the output does not match:\n{}", expected.join("\n")))
    }

    fn step(&mut self, attrs: &Attrs, step: &Step) {
        if attrs.background {
            let log = self
                .dir
                .path()
                .join(format!("background-{}.log", self.background.len()));
            self.background.push((
                step.command.clone(),
                ChildGuard::spawn_logging(&mut self.command(attrs, &step.command), &log),
            ));
            if let Some(file) = &attrs.wait {
                let path: PathBuf = self.dir.path().join(file);
                let start = Instant::now();
                while !std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                    assert!(
                        start.elapsed() < DEADLINE,
                        "{} line {}: {} did not appear; log:\n{}",
                        self.doc,
                        step.line,
                        path.display(),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            return;
        }
        let start = Instant::now();
        loop {
            let (code, output) = self.run(attrs, step);
            match self.check(step, code, &output) {
                Ok(captures) => {
                    self.vars.extend(captures);
                    return;
                }
                Err(_) if attrs.eventually && start.elapsed() < DEADLINE => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(why) => panic!(
                    "{} line {}: `{}`: {why}\n--- it printed:\n{output}",
                    self.doc, step.line, step.command
                ),
            }
        }
    }
}

/// Runs every example of `docs/<name>`, at least `least` commands.
fn run_guide(name: &str, least: usize) {
    if !common::can_run(Path::new("/bin/sh").exists(), "/bin/sh") {
        return;
    }
    let doc = format!("docs/{name}");
    let text = std::fs::read_to_string(Path::new(DOCS).join(name)).unwrap();
    let blocks = parse(&doc, &text);
    let mut guide = Guide {
        doc: doc.clone(),
        dir: tempfile::tempdir().unwrap(),
        vars: BTreeMap::new(),
        background: Vec::new(),
    };
    let mut ran = 0;
    for block in &blocks {
        match block {
            Block::File { name, text } => {
                std::fs::write(guide.dir.path().join(name), text).unwrap();
            }
            Block::Test { line, attrs, steps } => {
                assert!(
                    !steps.is_empty(),
                    "{doc} line {line}: a test block without a `$ ` command"
                );
                for step in steps {
                    guide.step(attrs, step);
                    ran += 1;
                }
            }
        }
    }
    assert!(ran >= least, "only {ran} commands found in {doc}");
    // Nodes stop cleanly (SIGTERM), and nothing the guide started is left running.
    for (command, mut child) in guide.background.drain(..) {
        let status = child.terminate();
        if command.starts_with("flashback node run") {
            assert!(
                status.is_some_and(|s| s.success()),
                "a node did not stop cleanly: {command}"
            );
        }
    }
    let left = running_in(guide.dir.path());
    assert!(left.is_empty(), "processes left running: {left:?}");
}

#[test]
fn every_example_in_the_user_guide_runs() {
    run_guide("USER_GUIDE.md", 20);
}

/// The gateway's journey: curl against real nodes, then the SDK's example.
#[test]
fn every_example_in_the_gateway_guide_runs() {
    if !common::can_run(which("curl"), "curl") || !common::can_run(which("jq"), "jq") {
        return;
    }
    run_guide("GATEWAY.md", 10);
}

/// Whether `program` is on `PATH`.
fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Processes whose working directory is `dir` or below it.
fn running_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir)))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .collect()
}

#[test]
fn patterns_match_what_they_say() {
    let vars: BTreeMap<String, String> = [("KEY".to_owned(), "abc".to_owned())].into();
    let ok = |e: &[&str], a: &[&str]| {
        let e: Vec<String> = e.iter().map(|s| (*s).to_owned()).collect();
        match_lines(&e, a, &vars)
    };
    assert_eq!(
        ok(&["published {ID} as $KEY"], &["published 12ab as abc"]),
        Some(vec![("ID".to_owned(), "12ab".to_owned())])
    );
    assert!(ok(&["published {ID} as $KEY"], &["published 12ab as abd"]).is_none());
    assert!(ok(&["a … z"], &["a b c z"]).is_some());
    assert!(ok(&["a … z"], &["a b c"]).is_none());
    assert!(ok(&["first", "...", "last"], &["first", "x", "y", "last"]).is_some());
    assert!(ok(&["first", "..."], &["first"]).is_some());
    assert!(ok(&["first"], &["first", "more"]).is_none());
    // A capture is one word.
    assert!(ok(&["{A} {B}"], &["one two"]).is_some());
    assert!(ok(&["{A}"], &["one two"]).is_none());
}
