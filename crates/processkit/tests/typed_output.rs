//! Typed output: `parse`, `try_parse`, and with the `json` feature
//! `output_json` and the NDJSON record stream, against real processes.
#![cfg(unix)]

use processkit::{Command, Error, StreamExt};

#[tokio::test]
async fn parse_and_try_parse_work_on_the_trimmed_successful_output() {
    let lines = Command::new("seq")
        .arg("5")
        .parse(|s| s.lines().count())
        .await
        .unwrap();
    assert_eq!(lines, 5);
    let total: u64 = Command::new("sh")
        .args(["-c", "echo 40; echo 2"])
        .try_parse(|s| s.lines().map(str::parse::<u64>).sum())
        .await
        .unwrap();
    assert_eq!(total, 42);

    let long = "x".repeat(10_000);
    let err = Command::new("echo")
        .arg(&long)
        .try_parse(|s| s.parse::<u32>())
        .await
        .unwrap_err();
    match &err {
        Error::Parse {
            program,
            line,
            excerpt,
            reason,
        } => {
            assert_eq!((program.as_str(), *line), ("echo", None));
            assert!(excerpt.chars().count() <= 121, "excerpt not bounded");
            assert!(excerpt.starts_with("xxx"));
            assert!(reason.contains("invalid digit"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A failed run is the run's error, not a parse error.
    let err = Command::new("sh")
        .args(["-c", "echo 1; exit 3"])
        .try_parse(|s| s.parse::<u32>())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NonZeroExit { code: 3, .. }), "{err}");
}

#[cfg(feature = "json")]
mod json {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Rec {
        id: u32,
        name: String,
    }

    #[tokio::test]
    async fn output_json_reads_one_document_and_reports_the_bad_line() {
        let r: Vec<Rec> = Command::new("printf")
            .arg("[\n {\"id\": 1, \"name\": \"a\"},\n {\"id\": 2, \"name\": \"b\"}\n]\n")
            .output_json()
            .await
            .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1],
            Rec {
                id: 2,
                name: "b".into()
            }
        );

        let err = Command::new("printf")
            .arg("[\n {\"id\": 1, \"name\": \"a\"},\n {\"id\": oops}\n]\n")
            .output_json::<Vec<Rec>>()
            .await
            .unwrap_err();
        match &err {
            Error::Parse {
                program,
                line,
                excerpt,
                ..
            } => {
                assert_eq!((program.as_str(), *line), ("printf", Some(3)));
                assert_eq!(excerpt, " {\"id\": oops}");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[tokio::test]
    async fn a_malformed_ndjson_line_is_an_error_with_its_number_and_the_stream_goes_on() {
        let script = r#"echo '{"id":1,"name":"a"}'; echo '{"id":2,"na'; echo; echo '{"id":3,"name":"c"}'; echo '{"id":"x","name":"d"}'; echo '{"id":5,"name":"e"}'"#;
        let mut run = Command::new("sh")
            .args(["-c", script])
            .start()
            .await
            .unwrap();
        let got: Vec<processkit::Result<Rec>> = run.json_lines().collect().await;
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap().id, 1);
        assert!(
            matches!(&got[1], Err(Error::Parse { line: Some(2), excerpt, .. }) if excerpt == r#"{"id":2,"na"#),
            "{:?}",
            got[1]
        );
        // The blank line 3 is skipped but counted.
        assert_eq!(got[2].as_ref().unwrap().id, 3);
        assert!(
            matches!(&got[3], Err(Error::Parse { line: Some(5), .. })),
            "{:?}",
            got[3]
        );
        assert_eq!(got[4].as_ref().unwrap().name, "e");
        let (code, _) = run.finish_streamed().await.unwrap();
        assert_eq!(code, Some(0));
    }
}
