//! `step02-namespaces`: the demos of step 02 (coming next).

fn main() {}
