//! One meaning of "done": a consuming verb's run is over when the verb
//! returns, on every runner. Run through a group, the run's backgrounded
//! leftovers are killed as a one-shot run's are, and the group's other
//! members are left alone. Checked on every mechanism a group can use here.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{alive, assert_gone_within};
use processkit::{Command, Mechanism, ProcessGroup, ProcessGroupOptions, ProcessRunnerExt};

use common::group_mechanisms as mechanisms;

fn group_on(m: Mechanism) -> ProcessGroup {
    common::group_on_with(m, ProcessGroupOptions::default())
}

/// Prints the pid of a backgrounded `sleep` (its output sent elsewhere, so
/// it holds no pipe open) and exits.
fn leaves_a_grandchild() -> Command {
    Command::new("sh").args(["-c", "sleep 300 >/dev/null 2>&1 & echo $!"])
}

fn pid_in(text: &str) -> u32 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {text:?}"))
}

const GONE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_consuming_verb_through_a_group_kills_its_own_leftovers() {
    for m in mechanisms() {
        let group = group_on(m);
        let sibling = group
            .start(&Command::new("sleep").arg("300"))
            .await
            .unwrap();
        let sibling_pid = sibling.pid().unwrap();

        // The runner verbs.
        let out = group.output_string(&leaves_a_grandchild()).await.unwrap();
        let a = pid_in(out.stdout());
        assert_gone_within(&[a], GONE, &format!("output_string's leftover on {m}")).await;
        let b = pid_in(&group.run(&leaves_a_grandchild()).await.unwrap());
        assert_gone_within(&[b], GONE, &format!("run's leftover on {m}")).await;

        // A batch through the group.
        let batch = processkit::output_all(
            vec![leaves_a_grandchild(), leaves_a_grandchild()],
            2,
            &group,
        )
        .await;
        let pids: Vec<u32> = batch
            .iter()
            .map(|r| pid_in(r.as_ref().unwrap().stdout()))
            .collect();
        assert_gone_within(&pids, GONE, &format!("output_all's leftovers on {m}")).await;

        // A started member taken by a consuming verb.
        let run = group.start(&leaves_a_grandchild()).await.unwrap();
        let c = pid_in(run.output_string().await.unwrap().stdout());
        assert_gone_within(&[c], GONE, &format!("a member's output_string on {m}")).await;
        let run = group
            .start(&Command::new("sh").args(["-c", "sleep 300 >/dev/null 2>&1 & echo $! >&2"]))
            .await
            .unwrap();
        let (_, stderr) = run.finish_streamed().await.unwrap();
        let d = pid_in(&stderr);
        assert_gone_within(&[d], GONE, &format!("a member's finish_streamed on {m}")).await;

        // first_line: the run is over once the line is in.
        let line = group
            .first_line(
                &Command::new("sh").args(["-c", "sleep 300 >/dev/null 2>&1 & echo $!; sleep 300"]),
                |_| true,
            )
            .await
            .unwrap()
            .expect("a line");
        let e = pid_in(&line);
        assert_gone_within(&[e], GONE, &format!("first_line's leftover on {m}")).await;

        // The sibling was never touched.
        assert!(alive(sibling_pid), "the sibling died on {m}");
        group.kill().unwrap();
        assert_gone_within(&[sibling_pid], GONE, "the sibling after kill").await;
    }
}

/// A handle merely dropped still detaches: its process keeps running in
/// the group (that is what a non-consuming use of a member means).
#[tokio::test]
async fn a_dropped_member_handle_still_detaches() {
    for m in mechanisms() {
        let group = group_on(m);
        let run = group
            .start(&Command::new("sleep").arg("300"))
            .await
            .unwrap();
        let pid = run.pid().unwrap();
        drop(run);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(alive(pid), "a dropped member died on {m}");
        group.kill().unwrap();
        assert_gone_within(&[pid], GONE, "the member after kill").await;
    }
}
