use super::*;

#[tokio::test(start_paused = true)]
async fn stop_when_ends_supervision_on_the_first_matching_run() {
    let double = Double::new([Canned::Exit(1), Canned::Exit(0), Canned::Exit(7)], || {
        Canned::Exit(1)
    });
    let outcome = supervise(&double, |s| {
        s.restart(RestartPolicy::Always)
            .stop_when(|res| res.code() == Some(7))
    })
    .await
    .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.stopped),
        (2, StopReason::StopCondition)
    );
    assert_eq!(outcome.last.and_then(|r| r.code()), Some(7));
}

#[tokio::test(start_paused = true)]
async fn stop_when_wins_over_the_policy_and_the_budget() {
    let double = Double::always(|| Canned::Exit(0));
    let outcome = supervise(&double, |s| {
        s.restart(RestartPolicy::Never)
            .max_restarts(0)
            .stop_when(|res| res.is_success())
    })
    .await
    .unwrap();
    assert_eq!(outcome.stopped, StopReason::StopCondition);
}

#[tokio::test(start_paused = true)]
async fn stop_when_sees_captured_output_and_can_stop_a_crash() {
    let double = Double::always(|| Canned::Exit(9));
    let outcome = supervise(&double, |s| {
        s.stop_when(|res| res.stderr() == "err\n" && res.code() == Some(9))
    })
    .await
    .unwrap();
    assert_eq!(
        (outcome.restarts, outcome.failures, outcome.stopped),
        (0, 1, StopReason::StopCondition)
    );
}
