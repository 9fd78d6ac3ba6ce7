import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;

/* Flushes before the body is complete, so Tomcat commits the response
   without a Content-Length and sends it chunked. */
public class ChunkedServlet extends HttpServlet {
    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/plain");
        resp.setHeader("X-Powered-By", "Servlet/legacy");
        PrintWriter out = resp.getWriter();
        for (int i = 0; i < 200; i += 20) {
            for (int j = i; j < i + 20; j++)
                out.printf("line %05d of the chunked response\n", j);
            out.flush();
        }
    }
}
