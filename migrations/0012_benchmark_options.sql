-- sweepq schema: a sweep's benchmark options (issue 21, benchmarks as plug-ins).
-- (Numbered after main's 0011_import_lines; the lead renumbers it at merge if needed.)
--
-- sweeps.benchmark_options: what `enqueue` was told besides the selection, as a JSON
-- object: MMLU-Pro's `split`, HumanEval's sandbox `timeout`, a question bank's `field`
-- map. The benchmark (`sweeps.benchmark`) and its selection (`sweeps.subtasks`: subtasks,
-- categories) were stored already. Sweeps stored before this migration had none.
ALTER TABLE sweeps ADD COLUMN benchmark_options TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(benchmark_options) AND json_type(benchmark_options) = 'object');
