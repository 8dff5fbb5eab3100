//! Pipelines: stages connected through anonymous pipes, a timeout kills every stage, a suspended tree still dies with its group.

use super::*;

#[tokio::test]
async fn a_pipeline_connects_stages_through_anonymous_pipes() {
    // The first stage writes a command; the second, `cmd /q`, runs what it
    // reads on stdin.
    let chain =
        Command::new("cmd").args(["/c", "echo echo piped-through"]) | Command::new("cmd").arg("/q");
    let out = chain.run().await.unwrap();
    assert!(
        out.lines().any(|l| l.trim_end() == "piped-through"),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_pipeline_timeout_kills_every_stage_tree() {
    let witness = Witness::new();
    let chain = cmd_with_ping().stdin(witness.stdin()) | Command::new("cmd").arg("/q");
    let err = chain
        .timeout(Duration::from_millis(700))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    witness
        .assert_all_gone(GONE_WITHIN, "the first stage after the chain's timeout")
        .await;
}

#[tokio::test]
async fn a_suspended_tree_still_dies_with_its_group() {
    let group = ProcessGroup::new().unwrap();
    let witness = Witness::new();
    let _run = group
        .start(&cmd_with_ping().stdin(witness.stdin()))
        .await
        .unwrap();
    members_at_least(&group, 2).await;
    group.suspend().unwrap();
    group.suspend().unwrap(); // nested: two resumes would be needed
    drop(group);
    witness
        .assert_all_gone(GONE_WITHIN, "a suspended tree after its group was dropped")
        .await;
}
