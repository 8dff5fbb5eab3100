use super::*;

#[tokio::test(start_paused = true)]
async fn a_missing_program_ends_supervision_with_not_found_instead_of_looping() {
    let double = Double::always(|| Canned::NotFound);
    let err = supervise(&double, |s| s.restart(RestartPolicy::Always))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(double.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_spawn_failure_after_some_restarts_ends_supervision_with_that_error() {
    let double = Double::new([Canned::Exit(1), Canned::Exit(1)], || Canned::SpawnFailed);
    let err = supervise(&double, |s| s).await.unwrap_err();
    assert!(
        matches!(err, Error::Spawn { ref program, .. } if program == "worker"),
        "{err:?}"
    );
    assert_eq!(double.calls().len(), 3);
}
