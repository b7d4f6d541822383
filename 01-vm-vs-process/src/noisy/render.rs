//! The report: the tables of what was measured, and the sentences that
//! read them, each chosen by what the numbers can actually show.

use super::{Hog, Measurement, Spread, Verdict};
use crate::report::{self, Table};

/// The heading of the sentences under the tables.
pub const WORDS_HEADING: &str = "What the numbers say";

/// A median and the middle half of the rounds: `2.01x (1.85x to 2.20x)`.
pub fn spread(s: &Spread) -> String {
    format!(
        "{} ({} to {})",
        report::ratio(s.median),
        report::ratio(s.q1),
        report::ratio(s.q3)
    )
}

/// The tables and the sentences that read them.
pub fn render(m: &Measurement) -> String {
    render_tables(m) + "\n" + &render_words(m)
}

/// The victim's table (pooled latencies, median slowdown and the middle half
/// of the rounds) and the host memory table.
pub fn render_tables(m: &Measurement) -> String {
    let mut table = Table::new([
        "victim on CPU ".to_string() + &m.cpu.to_string(),
        "median".into(),
        "p99".into(),
        "max".into(),
        "units/s".into(),
        "slowdown".into(),
        "middle half of rounds".into(),
    ]);
    let spreads = [None, Some(&m.cpu_hog), Some(&m.again), Some(&m.mem_hog)];
    for ((i, phase), spread) in m.phases.iter().enumerate().zip(spreads) {
        let label = match (phase.hog, i) {
            (None, 0) => "alone".to_string(),
            (None, _) => "alone again".to_string(),
            (Some(Hog::Cpu), _) => format!("beside a CPU hog (CPU {})", m.cpu),
            (Some(Hog::Mem), _) => format!(
                "beside a {} memory hog (CPU {})",
                report::bytes(m.memory.hog_bytes),
                m.mem_hog_cpu
            ),
        };
        let s = &phase.stats;
        let (slowdown, middle) = match spread {
            None => ("baseline".to_string(), String::new()),
            Some(x) => (
                report::ratio(x.median),
                format!("{} to {}", report::ratio(x.q1), report::ratio(x.q3)),
            ),
        };
        table.row([
            label,
            report::duration(s.median),
            report::duration(s.p99),
            report::duration(s.max),
            report::measured(format!("{:.0}", s.throughput())),
            slowdown,
            middle,
        ]);
    }
    let mem = &m.memory;
    let mut memory = Table::new(["host memory", ""]);
    memory.row([
        "MemAvailable before the hog".to_string(),
        report::measured(report::bytes(mem.available_before)),
    ]);
    memory.row([
        "MemAvailable with the hog".to_string(),
        report::measured(report::bytes(mem.available_with_hog)),
    ]);
    memory.row([
        "the hog's resident memory (VmRSS)".to_string(),
        report::measured(report::bytes(mem.hog_rss)),
    ]);
    table.render() + "\n" + &memory.render()
}

// ANCHOR: words
/// The sentences under the tables. Each one is chosen by the verdict of its
/// interval, so that no sentence claims an effect its table does not show.
pub fn render_words(m: &Measurement) -> String {
    let rounds = m.cpu_hog.rounds;
    let mut out = format!(
        "{WORDS_HEADING} ({rounds} rounds of four {window} ms windows, each ratio taken within a round):\n",
        window = m.window.as_millis(),
    );
    out += &match m.cpu_hog.verdict() {
        Verdict::Slower => format!(
            "The victim and the CPU hog were both runnable on CPU {cpu}, and the scheduler\n\
             shares a CPU fairly between runnable tasks. Beside the hog the victim was\n\
             {spread} slower, and a unit that lost the CPU waited out a time\n\
             slice of the hog (see p99 and max). Nothing stops a neighbour from taking the\n\
             CPU: the resource allocation problem of the traditional era.\n",
            cpu = m.cpu,
            spread = spread(&m.cpu_hog),
        ),
        Verdict::NotMeasurable | Verdict::Faster => format!(
            "Note: beside the CPU hog the victim's slowdown was not measurable on this run:\n\
             {spread}, and the middle half of the rounds includes or lies below\n\
             1.00x. Is CPU {cpu} already busy with something else, or does this machine not\n\
             let us pin processes?\n",
            cpu = m.cpu,
            spread = spread(&m.cpu_hog),
        ),
    };
    out += &match m.again.verdict() {
        Verdict::NotMeasurable => format!(
            "With the hog stopped it was back to normal: alone vs alone again was\n\
             {}, a range that includes 1.00x.\n",
            spread(&m.again)
        ),
        Verdict::Slower | Verdict::Faster => format!(
            "Alone vs alone again was {}, a range that does not include\n\
             1.00x although no hog of ours ran in either window: that is this machine's own\n\
             noise (another program, a change of CPU frequency), and every ratio of this run\n\
             is about that uncertain.\n",
            spread(&m.again)
        ),
    };
    out += &format!(
        "\nThe memory hog took {taken} of MemAvailable away from everyone else, and nothing\n\
         stopped it either. ",
        taken = report::measured(report::bytes(
            m.memory
                .available_before
                .saturating_sub(m.memory.available_with_hog)
        )),
    );
    out += &match m.mem_hog.verdict() {
        Verdict::Slower => format!(
            "Beside it (the hog ran on CPU {cpu}) the victim was\n\
             {spread} slower: a memory hog costs its neighbours time through\n\
             the caches and the memory bus they share, and",
            cpu = m.mem_hog_cpu,
            spread = spread(&m.mem_hog),
        ),
        Verdict::NotMeasurable | Verdict::Faster => format!(
            "Beside it (the hog ran on CPU {cpu}) the victim's\n\
             slowdown was not measurable on this run: {spread}, a range\n\
             that includes or lies below 1.00x. Either this machine's shared cache and memory\n\
             bus had room for both, or its noise hid a small cost. A memory hog costs\n\
             its neighbours",
            cpu = m.mem_hog_cpu,
            spread = spread(&m.mem_hog),
        ),
    };
    out += " far more once memory runs short\n\
            (reclaim, swap, the OOM killer), which this demo takes care never to cause.\n";
    out
}
// ANCHOR_END: words
