//! The `berth` command line as people use it: piped into `head`, flags after the subcommand,
//! robots named the way they are printed, sizes people read, and warnings for changes that
//! succeed but are probably not what was meant.

use reqwest::StatusCode;

use crate::support::{TestServer, berth_admin, berth_output};

/// stdout and stderr of a `berth` run that must succeed.
async fn succeeds(args: &[&str]) -> (String, String) {
    let output = berth_output(args, "").await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "berth {args:?}: {stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

/// The one message of a `berth` run that must fail with exit code 1.
async fn fails(args: &[&str]) -> String {
    let output = berth_output(args, "").await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "berth {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_behaves_as_people_expect() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let s = TestServer::start(data.path()).await;
    for tag in ["v1.0.0", "v2.0.0-rc.1", "main"] {
        let layer = format!("layer of {tag}").repeat(200).into_bytes();
        let (_, res) = s.api().push("team/app", tag, &[layer]).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    s.stop().await;

    // A reader that goes away ends the command quietly: no panic, exit code 0.
    for command in [
        "admin audit --data-dir \"$1\"",
        "admin user ls --data-dir \"$1\"",
        "du --data-dir \"$1\"",
    ] {
        let script = format!("set -o pipefail; \"$0\" {command} | true");
        let output = tokio::process::Command::new("bash")
            .args(["-c", &script, env!("CARGO_BIN_EXE_berth"), dir])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{command}: {stderr}");
        assert_eq!(stderr, "", "{command}");
    }

    // --data-dir and --config are taken before and after the subcommands alike.
    let (after, _) = succeeds(&["admin", "user", "ls", "--data-dir", dir]).await;
    let (before, _) = succeeds(&["admin", "--data-dir", dir, "user", "ls"]).await;
    assert_eq!(after, before);
    assert!(after.starts_with("admin\t"), "{after}");

    // A robot is named as `PROJECT NAME` or by its account name, in every robot command.
    let created = berth_admin(
        data.path(),
        &["robot", "create", "team", "deployer", "--actions", "pull"],
        "",
    )
    .await;
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["name"], "robot$team+deployer");
    let robot_state = async || {
        let listed = berth_admin(data.path(), &["robot", "ls", "team"], "").await;
        listed.trim_end().rsplit('\t').next().unwrap().to_owned()
    };
    berth_admin(
        data.path(),
        &["robot", "disable", "robot$team+deployer"],
        "",
    )
    .await;
    assert_eq!(robot_state().await, "disabled");
    berth_admin(data.path(), &["robot", "enable", "team", "deployer"], "").await;
    assert_eq!(robot_state().await, "enabled");
    let message = fails(&["admin", "--data-dir", dir, "robot", "delete", "deployer"]).await;
    assert!(message.contains("PROJECT NAME"), "{message}");
    berth_admin(data.path(), &["robot", "delete", "robot$team+deployer"], "").await;
    assert_eq!(
        berth_admin(data.path(), &["robot", "ls", "team"], "").await,
        ""
    );

    // `du` prints sizes people read, bytes on request, and refuses a project that is not there.
    let (human, _) = succeeds(&["du", "team", "--data-dir", dir]).await;
    let total: Vec<&str> = human.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(total[0], "team", "{human}");
    assert!(total[1].ends_with(" kB"), "{human}");
    let (bytes, _) = succeeds(&["du", "team", "--bytes", "--data-dir", dir]).await;
    let total: Vec<&str> = bytes.lines().nth(1).unwrap().split('\t').collect();
    assert!(total[1].parse::<u64>().unwrap() > 1000, "{bytes}");
    let message = fails(&["du", "ghost", "--data-dir", dir]).await;
    assert!(message.contains("project \"ghost\" not found"), "{message}");

    // Promoting a pre-release or a tag that is no release succeeds, with a warning.
    let (_, warning) = succeeds(&["promote", "team/app", "v2.0.0-rc.1", "--data-dir", dir]).await;
    assert!(
        warning.contains("warning: v2.0.0-rc.1 is a pre-release"),
        "{warning}"
    );
    let (_, warning) = succeeds(&["promote", "team/app", "main", "--data-dir", dir]).await;
    assert!(
        warning.contains("warning: main is not a release tag"),
        "{warning}"
    );
    let (_, warning) = succeeds(&["promote", "team/app", "v1.0.0", "--data-dir", dir]).await;
    assert_eq!(warning, "");

    // A quota below what the project holds is set, with a warning; one above is not warned of.
    let policy = ["admin", "project", "policy", "team", "--data-dir", dir];
    let (_, warning) = succeeds(&[&policy[..], &["--quota", "1kB"]].concat()).await;
    assert!(
        warning.contains("warning: the quota of 1.0 kB is below"),
        "{warning}"
    );
    let (_, warning) = succeeds(&[&policy[..], &["--quota", "1GB"]].concat()).await;
    assert_eq!(warning, "");
    let (settings, _) = succeeds(&policy).await;
    assert!(settings.contains("quota_bytes\t1000000000"), "{settings}");
}
