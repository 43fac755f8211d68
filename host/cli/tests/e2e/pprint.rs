//! `pprint` prints exactly what PySpark prints.

use super::common::*;

const RULE: &str = "-------------------------------------------";

/// Checks a `Time: ` line and returns its value.
fn time_value(line: &str) -> &str {
    let time = line.strip_prefix("Time: ").expect("a Time: line");
    let bytes = time.as_bytes();
    let shape_ok = (time.len() == 19 || (time.len() == 26 && bytes[19] == b'.'))
        && time.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            19 => c == '.',
            _ => c.is_ascii_digit(),
        });
    assert!(shape_ok, "bad time {time:?}");
    time
}

fn pprint_run(input_text: &str, num: Option<usize>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), input_text).unwrap();
    let num = num.map(|n| format!("num = {n}")).unwrap_or_default();
    let pipeline = wordcount_pipeline(
        dir.path(),
        "in",
        "include_existing = true",
        &format!("[sinks.console]\nfrom = \"counts\"\nkind = \"pprint\"\n{num}\n"),
    );
    let output = run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "1",
        "--max-batches",
        "2",
    ]);
    stdout_of(&output)
}

#[test]
fn pprint_prints_pyspark_batches_byte_for_byte() {
    let stdout = pprint_run("b a b\nc b a it's\n", None);
    let lines: Vec<&str> = stdout.split('\n').collect();
    let first = time_value(lines[1]);
    let second = time_value(lines[9]);
    let expected = format!(
        "{RULE}\nTime: {first}\n{RULE}\n('b', 3)\n('a', 2)\n('c', 1)\n(\"it's\", 1)\n\n\
         {RULE}\nTime: {second}\n{RULE}\n\n"
    );
    assert_eq!(stdout, expected);
    // The second batch comes one interval (200 ms) after the first.
    let millis = |t: &str| -> i64 {
        let (secs, frac) = t.split_at(19);
        let s: i64 = secs[17..19].parse().unwrap();
        let m: i64 = secs[14..16].parse().unwrap();
        let micros: i64 = frac.trim_start_matches('.').parse().unwrap_or(0);
        (m * 60 + s) * 1000 + micros / 1000
    };
    assert_eq!((millis(second) - millis(first)).rem_euclid(3_600_000), 200);
}

#[test]
fn pprint_shows_num_records_then_an_ellipsis() {
    let stdout = pprint_run("x y z w\n", Some(3));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[3..7], ["('x', 1)", "('y', 1)", "('z', 1)", "..."]);
    assert_eq!(lines[7], "");
}

#[test]
fn print_shows_scala_s_layout_and_csv_files_quote_as_rfc_4180_says() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), "b a,x b\n\"q\" b\n").unwrap();
    let pipeline = wordcount_pipeline(
        dir.path(),
        "in",
        "include_existing = true",
        "[sinks.scala]\nfrom = \"counts\"\nkind = \"print\"\nnum = 2\n\
         [sinks.table]\nfrom = \"counts\"\nkind = \"text_files\"\nprefix = \"out/table\"\nformat = \"csv\"\n",
    );
    let stdout = stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "1",
        "--max-batches",
        "1",
    ]));
    let lines: Vec<&str> = stdout.split('\n').collect();
    let ms = lines[1]
        .strip_prefix("Time: ")
        .and_then(|t| t.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(ms.parse::<i64>().is_ok(), "{stdout}");
    assert_eq!(
        stdout,
        format!("{RULE}\nTime: {ms} ms\n{RULE}\n(b,3)\n(a,x,1)\n...\n\n")
    );
    let mut rows = sink_lines(dir.path(), "table");
    rows.sort();
    assert_eq!(rows, ["\"\"\"q\"\"\",1", "\"a,x\",1", "b,3"]);
}
