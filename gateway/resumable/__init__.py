"""Resumable uploads, tus 1.0 (docs/uploads.md): a file sent over many requests, to any replica, that becomes a
version only once every byte is in.

- `protocol`: the tus headers, read and written (pure);
- `state`: an upload's state record in the bucket, and its one conditional change;
- `parts`: a request's bytes cut into the parts of the upload's S3 multipart upload;
- `service`: creating, reading, continuing and ending uploads;
- `completion`: the file made from an upload's parts through the files' admission and write step;
- `sweep`: what the janitor does about uploads past their expiry.
"""
