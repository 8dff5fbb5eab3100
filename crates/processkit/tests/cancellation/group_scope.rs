use super::*;

#[tokio::test]
async fn cancelling_one_member_kills_its_subtree_and_spares_its_siblings() {
    let scratch = Scratch::new();
    let (victim_pids, sibling_pids) = (scratch.file("victim"), scratch.file("sibling"));
    let group = ProcessGroup::new().unwrap();
    let token = CancellationToken::new();
    let mut sibling = group.start(&tree(&sibling_pids)).await.unwrap();
    let mut victim = group
        .start(&tree(&victim_pids).cancel_on(token.clone()))
        .await
        .unwrap();
    eventually(
        "both trees to record their pids",
        Duration::from_secs(5),
        || pids_in(&victim_pids).len() == 3 && pids_in(&sibling_pids).len() == 3,
    )
    .await;

    token.cancel();
    assert_cancelled(bounded("the victim's wait", Duration::from_secs(5), victim.wait()).await);
    let dead = pids_in(&victim_pids);
    eventually(
        "the victim's subtree to be gone",
        Duration::from_secs(2),
        || dead.iter().all(|p| !alive(*p)),
    )
    .await;

    let spared = pids_in(&sibling_pids);
    assert!(
        spared.iter().all(|p| alive(*p)),
        "a sibling died with the cancelled member"
    );
    assert!(
        tokio::time::timeout(ms(100), sibling.wait()).await.is_err(),
        "the sibling's shell exited"
    );
    drop(group);
    eventually(
        "the sibling to die with its group",
        Duration::from_secs(2),
        || spared.iter().all(|p| !alive(*p)),
    )
    .await;
}

#[tokio::test]
async fn a_cancelled_capture_through_the_group_runner_spares_the_rest_of_the_group() {
    cancel_one_member_of_a_shared_group("the group capture", async |group, victim, token| {
        group.output_string(&victim.cancel_on(token)).await
    })
    .await;
}
