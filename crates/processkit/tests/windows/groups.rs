//! Groups: POSIX-only flags refused, members, killing one member, adoption, the raw escape hatch, suspend and resume, stats.

use super::*;

#[tokio::test]
async fn posix_only_spawn_flags_are_unsupported() {
    for cmd in [
        Command::new("cmd").args(["/c", "echo x"]).uid(0),
        Command::new("cmd").args(["/c", "echo x"]).gid(0),
        Command::new("cmd").args(["/c", "echo x"]).setsid(),
    ] {
        let e = cmd.run().await.unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn members_lists_the_whole_tree() {
    let group = ProcessGroup::new().unwrap();
    let a = group.start(&cmd_with_ping()).await.unwrap();
    let b = group.start(&cmd_with_ping()).await.unwrap();
    let members = members_at_least(&group, 4).await;
    assert!(
        members.contains(&a.pid().unwrap()) && members.contains(&b.pid().unwrap()),
        "{members:?}"
    );
    assert_eq!(members.len(), 4, "two cmd and two ping: {members:?}");
    group.kill().unwrap();
    let deadline = Instant::now() + GONE_WITHIN;
    while !group.is_empty().unwrap() {
        assert!(
            Instant::now() < deadline,
            "still members after kill: {:?}",
            group.members()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(group.members().unwrap(), Vec::<u32>::new());
}

#[tokio::test]
async fn killing_one_member_kills_its_subtree_and_spares_its_siblings() {
    let group = ProcessGroup::new().unwrap();
    let wa = Witness::new();
    let mut wb = Witness::new();
    let mut a = group
        .start(&cmd_with_ping().stdin(wa.stdin()))
        .await
        .unwrap();
    let _b = group
        .start(&cmd_with_ping().stdin(wb.stdin()))
        .await
        .unwrap();
    members_at_least(&group, 4).await;
    a.kill().await.unwrap();
    assert_eq!(a.exit_status().unwrap().signal(), Some(9));
    wa.assert_all_gone(GONE_WITHIN, "member a after its kill")
        .await;
    wb.assert_still_held("member b after a's kill").await;
    drop(group);
    wb.assert_all_gone(GONE_WITHIN, "member b after the group was dropped")
        .await;
}

#[tokio::test]
async fn a_member_timeout_kills_only_that_members_tree() {
    let group = ProcessGroup::new().unwrap();
    let wa = Witness::new();
    let mut wb = Witness::new();
    let _b = group
        .start(&cmd_with_ping().stdin(wb.stdin()))
        .await
        .unwrap();
    let r = group
        .start(
            &cmd_with_ping()
                .stdin(wa.stdin())
                .timeout(Duration::from_millis(500)),
        )
        .await
        .unwrap()
        .output_string()
        .await
        .unwrap();
    assert!(r.timed_out());
    wa.assert_all_gone(GONE_WITHIN, "the timed-out member")
        .await;
    wb.assert_still_held("its sibling").await;
}

#[tokio::test]
async fn an_outside_process_can_be_adopted_and_dies_with_the_group() {
    let group = ProcessGroup::new().unwrap();
    let mut outside = std::process::Command::new("ping")
        .args(["-n", "30", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    group.adopt(outside.id()).unwrap();
    assert!(group.members().unwrap().contains(&outside.id()));
    drop(group);
    // std holds the process handle, so the pid cannot be reused meanwhile.
    let deadline = Instant::now() + GONE_WITHIN;
    while outside.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the adopted process outlived its group"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    outside.wait().unwrap();
}

#[tokio::test]
async fn adopting_a_missing_pid_or_ourselves_is_an_error() {
    let group = ProcessGroup::new().unwrap();
    let e = group.adopt(std::process::id()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let mut exited = std::process::Command::new("cmd")
        .args(["/c", "exit 0"])
        .spawn()
        .unwrap();
    exited.wait().unwrap();
    let e = group.adopt(exited.id()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
}

#[tokio::test]
async fn the_raw_escape_hatch_is_contained() {
    let group = ProcessGroup::new().unwrap();
    let mut cmd = tokio::process::Command::new("ping");
    cmd.args(["-n", "30", "127.0.0.1"])
        .stdout(std::process::Stdio::null());
    let mut child = group.spawn(&mut cmd).unwrap();
    let pid = child.id().unwrap();
    assert!(members_at_least(&group, 1).await.contains(&pid));
    group.kill().unwrap();
    let status = tokio::time::timeout(GONE_WITHIN, child.wait())
        .await
        .expect("killed in time")
        .unwrap();
    assert!(!status.success());

    // It really runs after the resume: a quick command completes.
    let mut quick = tokio::process::Command::new("cmd");
    quick.args(["/c", "exit 7"]);
    let status = group.spawn(&mut quick).unwrap().wait().await.unwrap();
    assert_eq!(status.code(), Some(7));
}

#[tokio::test]
async fn suspend_stops_output_and_resume_restarts_it() {
    let group = ProcessGroup::new().unwrap();
    // A line about once a second (cmd writes each `echo` straight through;
    // ping is only the delay).
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ticker.bat");
    std::fs::write(
        &script,
        "@echo off\r\n:again\r\necho tick\r\nping -n 2 127.0.0.1 > NUL\r\ngoto again\r\n",
    )
    .unwrap();
    let mut run = group.start(&Command::new(&script)).await.unwrap();
    let mut lines = run.stdout_lines();
    // Wait for the first tick so the tree is really running.
    tokio::time::timeout(Duration::from_secs(15), lines.next())
        .await
        .expect("first line")
        .unwrap();
    group.suspend().unwrap();
    // Let whatever was already in the pipe drain, then expect silence.
    while tokio::time::timeout(Duration::from_millis(700), lines.next())
        .await
        .is_ok()
    {}
    let quiet = tokio::time::timeout(Duration::from_millis(3000), lines.next()).await;
    assert!(
        quiet.is_err(),
        "output continued while suspended: {quiet:?}"
    );
    group.resume().unwrap();
    let more = tokio::time::timeout(Duration::from_secs(15), lines.next()).await;
    assert!(
        matches!(more, Ok(Some(_))),
        "no output after resume: {more:?}"
    );
    drop(lines);
    group.kill().unwrap();
}

#[cfg(feature = "stats")]
#[tokio::test]
async fn stats_count_the_live_and_peak_processes() {
    let group = ProcessGroup::new().unwrap();
    let _a = group.start(&cmd_with_ping()).await.unwrap();
    members_at_least(&group, 2).await;
    let s = group.stats().unwrap();
    assert_eq!(s.active_process_count, 2, "{s:?}");
    assert!(s.peak_process_count.unwrap() >= 2, "{s:?}");
    group.kill().unwrap();
    let deadline = Instant::now() + GONE_WITHIN;
    while !group.is_empty().unwrap() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let s = group.stats().unwrap();
    assert_eq!(s.active_process_count, 0, "{s:?}");
    assert!(s.peak_process_count.unwrap() >= 2, "{s:?}");
}
