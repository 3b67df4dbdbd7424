//! Sandbox bounds: a guest over its memory cap or past its deadline fails the job with
//! an error saying which, and the layout is left exactly as it was.

use std::fs;

use crate::invariants::{temp_dirs, verified_blobs};
use crate::lab::{Lab, write_random};
use crate::support::{run_fail_line, run_ok};

#[test]
fn memory_cap_and_deadline_leave_the_layout_as_it_was() {
    let lab = Lab::new();
    lab.unpack("img:base", "b");
    fs::create_dir_all(lab.path().join("b/rootfs/data")).unwrap();
    for i in 0..400 {
        write_random(&lab.path().join(format!("b/rootfs/data/f{i}")), 4096, i);
    }
    let index = fs::read(lab.layout().join("index.json")).unwrap();
    let blobs = verified_blobs(&lab.layout());
    for (flags, cause) in [
        (&["--timeout", "1ms"][..], "time limit"),
        (&["--max-memory", "1M"][..], "memory"),
    ] {
        let mut cmd = lab.host(flags);
        cmd.args(["run", "--image", "img:new", "b"]);
        let line = run_fail_line(&mut cmd);
        assert!(line.to_lowercase().contains(cause), "{flags:?}: {line}");
        assert_eq!(
            fs::read(lab.layout().join("index.json")).unwrap(),
            index,
            "{flags:?}"
        );
        assert_eq!(
            verified_blobs(&lab.layout()),
            blobs,
            "{flags:?}: no blob added"
        );
        assert!(
            temp_dirs(&lab.layout()).is_empty(),
            "{flags:?}: temp dir left"
        );
    }
    // The same run within its bounds succeeds.
    run_ok(&mut lab.run_cmd("img:new", "b", &[]));
}
