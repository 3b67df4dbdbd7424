//! Shell completions and man pages, generated from the command-line definitions.

use std::fs;
use std::process::Command;

use crate::support::{repack_host, run_ok};

/// What bash completes for `words` (the last one is the word being completed, `""` for
/// a new one), with the script `repack-host completions bash` prints loaded: the
/// function it registers is called as bash calls it (command, current word, previous).
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let function = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("complete -F "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the script registers a completion function");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let (cur, prev) = (&quoted[words.len() - 1], &quoted[words.len() - 2]);
    let line = words.join(" ");
    let out = run_ok(Command::new("bash").args(["--norc", "-c"]).arg(format!(
        "{script}\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n{function} repack-host {cur} {prev}\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
        words.len() - 1
    )));
    out.lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_commands_and_flags() {
    let script = run_ok(repack_host().args(["completions", "bash"]));
    let commands = bash_completes(&script, &["repack-host", ""]);
    for command in [
        "run",
        "unpack",
        "raw",
        "insert",
        "completions",
        "man",
        "help",
    ] {
        assert!(
            commands.iter().any(|c| c == command),
            "{command}: {commands:?}"
        );
    }
    let raw = bash_completes(&script, &["repack-host", "raw", ""]);
    for command in ["unpack", "runtime-config", "mtree", "add-layer"] {
        assert!(raw.iter().any(|c| c == command), "raw {command}: {raw:?}");
    }
    let flags = bash_completes(&script, &["repack-host", "raw", "unpack", "--"]);
    for flag in ["--image", "--uid-map", "--rootless", "--keep-dirlinks"] {
        assert!(flags.iter().any(|f| f == flag), "{flag}: {flags:?}");
    }
    let values = bash_completes(&script, &["repack-host", "run", "--compress", ""]);
    assert_eq!(values.len(), 4, "{values:?}");
}

#[test]
fn every_shell_gets_a_script_and_a_bad_one_is_refused() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = run_ok(repack_host().args(["completions", shell]));
        for word in ["repack-host", "runtime-config", "uid-map"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let out = repack_host()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_describe_every_command() {
    let page = run_ok(repack_host().arg("man"));
    assert!(page.contains(".TH repack-host 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "{section}");
    }
    assert!(page.contains("repack\\-host\\-unpack(1)"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    run_ok(repack_host().args(["man", "--output-dir"]).arg(&out));
    let mut pages: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for expected in [
        "repack-host.1",
        "repack-host-run.1",
        "repack-host-unpack.1",
        "repack-host-raw.1",
        "repack-host-raw-unpack.1",
        "repack-host-raw-runtime-config.1",
        "repack-host-insert.1",
    ] {
        assert!(pages.iter().any(|p| p == expected), "{expected}: {pages:?}");
    }
    let raw_unpack = fs::read_to_string(out.join("repack-host-raw-unpack.1")).unwrap();
    assert!(raw_unpack.contains("\\-\\-keep\\-dirlinks"), "{raw_unpack}");

    // Rendered by groff where it is installed, with no warning.
    let groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(out.join("repack-host-raw-runtime-config.1"))
        .output();
    match groff {
        Ok(o) => assert!(
            o.status.success() && o.stderr.is_empty(),
            "groff: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => eprintln!("note: groff is not installed; the pages were not rendered"),
    }
}
