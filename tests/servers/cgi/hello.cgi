#!/bin/sh
# A CGI script with no Content-Length: Apache sends its body chunked, BusyBox
# writes the status line alone, then this output, then closes.
printf 'Content-Type: text/html\r\nX-Powered-By: CGI/legacy\r\n\r\n'
i=0
while [ $i -lt 200 ]; do
    printf 'line %05d of the chunked response\n' $i
    i=$((i + 1))
    # A pause mid-body: Apache then cannot count the whole body before it
    # sends the header, so it sends it chunked (servers-io.md section 2).
    [ $i -eq 100 ] && sleep 0.2
done
exit 0
