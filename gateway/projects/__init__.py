"""Projects: an owner's sessions grouped under one id, cleaned up with them after a time without activity.

`records` is what a project is in the bucket, `outlook` the pure judgement of when it goes and when it warns,
`service` the operations behind `/v1/projects`, and `cleanup` the janitor's pass over every project.
"""
