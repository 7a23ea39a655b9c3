"""What a user's sessions look like together: each session's summary, and the index that lists them quickly.

- `summaries`: a session's summary (its record's listed fields and its activity), one canonical form;
- `activity`: the activity object beside a session's record (last change, file count, bytes), kept up to date by
  a tracker that listens to the change hook and writes at most once per interval per session;
- `query`: the filters, sort orders and stable cursor positions of `GET /v1/sessions`;
- `catalog`: the index itself (a compacted base and one change note per changed session) and its repair.
"""
