use super::*;

/// A small deterministic generator (xorshift), seeded per run.
fn delays(seed: u64, n: usize, max_ms: u64) -> Vec<Duration> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ms(x % (max_ms + 1))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_runs_cancelled_at_random_moments_all_report_cancelled_and_leave_no_survivor() {
    let tag = unique_tag("storm");
    let group = Arc::new(ProcessGroup::new().unwrap());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let schedule = delays(seed, 50, 200);
    let mut jobs = Vec::new();
    for (i, delay) in schedule.iter().copied().enumerate() {
        let token = CancellationToken::new();
        let cmd = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .env(TAG_VAR, &tag)
            .cancel_on(token.clone());
        let group = Arc::clone(&group);
        cancel_after(&token, delay);
        jobs.push(tokio::spawn(async move {
            // Every consuming path, on private containers and on the shared group.
            match i % 6 {
                0 => cmd.output_string().await.map(|_| ()),
                1 => cmd.run().await.map(|_| ()),
                2 => cmd.exit_code().await.map(|_| ()),
                3 => match cmd.start().await {
                    Ok(mut run) => run.wait().await.map(|_| ()),
                    Err(e) => Err(e),
                },
                4 => match group.start(&cmd).await {
                    Ok(run) => run.finish_streamed().await.map(|_| ()),
                    Err(e) => Err(e),
                },
                _ => group.output_bytes(&cmd).await.map(|_| ()),
            }
        }));
    }
    let outcomes = bounded("the storm", Duration::from_secs(60), async {
        let mut outcomes = Vec::new();
        for job in jobs {
            outcomes.push(job.await.unwrap());
        }
        outcomes
    })
    .await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert!(
            matches!(outcome, Err(Error::Cancelled { .. })),
            "run {i} (cancelled after {:?}, seed {seed}) returned {outcome:?}",
            schedule[i]
        );
    }
    // The shared group is still alive: nothing may survive in it either.
    eventually(
        "no tagged process to survive the storm",
        Duration::from_secs(5),
        || tagged(&tag).is_empty(),
    )
    .await;
    assert!(group.is_empty().unwrap());
}
