// Uploads one file to the gateway with tus-js-client, printing one JSON line per event, for
// tests/uploads/test_js_client.py. Arguments: the creation URL, the file to send, its path in the session, and
// optionally the URL of an upload to resume. The token comes in GATEWAY_TOKEN; RETRIES (a number) lets the client
// retry after errors (tus-js-client asks the server for the offset again, then goes on).
'use strict'

const fs = require('fs')
const tus = require('tus-js-client')

const [endpoint, file, path, uploadUrl] = process.argv.slice(2)
const retries = Number(process.env.RETRIES || 0)
const say = (event) => console.log(JSON.stringify(event))

const upload = new tus.Upload(fs.readFileSync(file), {
  endpoint,
  uploadUrl: uploadUrl || null,
  retryDelays: retries ? Array(retries).fill(50) : null,
  headers: { Authorization: `Bearer ${process.env.GATEWAY_TOKEN}` },
  metadata: { path, content_type: 'application/octet-stream' },
  onUploadUrlAvailable () {
    say({ url: upload.url })
  },
  onAfterResponse (request, response) {
    say({ method: request.getMethod(), status: response.getStatus(), offset: response.getHeader('Upload-Offset') })
  },
  onError (error) {
    say({ error: String(error) })
    process.exit(2)
  },
  onSuccess () {
    say({ done: upload.url })
  }
})
upload.start()
