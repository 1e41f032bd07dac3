//! `flashback keys …` as a user runs it.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn flashback(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flashback"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs the flashback binary")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn generate_writes_a_private_file_and_show_prints_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let out = flashback(&["keys", "generate", "--out", "k.key"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let printed = stdout(&out);
    let public = printed
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .expect("prints the public key")
        .to_string();
    assert_eq!(public.len(), 64);
    let mode = std::fs::metadata(dir.path().join("k.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let shown = flashback(&["keys", "show", "k.key"], dir.path());
    assert!(shown.status.success());
    assert_eq!(stdout(&shown), printed);

    let json = flashback(&["keys", "show", "k.key", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["public_key"], public.as_str());
    assert!(v["peer_id"].as_str().unwrap().starts_with("12D3KooW"));

    // Never overwrites a key by accident.
    let again = flashback(&["keys", "generate", "--out", "k.key"], dir.path());
    assert!(!again.status.success());
    assert_eq!(
        stdout(&flashback(&["keys", "show", "k.key"], dir.path())),
        printed
    );
}

#[test]
fn damaged_key_files_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        flashback(&["keys", "generate", "--out", "k.key"], dir.path())
            .status
            .success()
    );
    let good = std::fs::read(dir.path().join("k.key")).unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        ("truncated.key", good[..good.len() / 2].to_vec()),
        ("cut-secret.key", good[..good.len() - 10].to_vec()),
        ("garbage.key", (0..=255u8).cycle().take(700).collect()),
        ("empty.key", vec![]),
    ];
    for (name, bytes) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out = flashback(&["keys", "show", name], dir.path());
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let missing = flashback(&["keys", "show", "missing.key"], dir.path());
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn help_documents_both_commands() {
    let dir = tempfile::tempdir().unwrap();
    let help = stdout(&flashback(&["keys", "--help"], dir.path()));
    assert!(help.contains("generate") && help.contains("show"));
    let gen_help = stdout(&flashback(&["keys", "generate", "--help"], dir.path()));
    assert!(gen_help.contains("--out") && gen_help.contains("0600"));
}
