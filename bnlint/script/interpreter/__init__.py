"""The parts of the script interpreter (`bnlint.script.collector.Collector` mixes them), one idea each."""
