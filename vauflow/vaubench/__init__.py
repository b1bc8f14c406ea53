"""VAU-Bench stage: normalise annotation CSVs (build) and join them to the frame cache (link)."""
