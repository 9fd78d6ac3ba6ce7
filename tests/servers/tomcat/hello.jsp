<%@ page contentType="text/html; charset=UTF-8" %><%
response.setHeader("X-Powered-By", "JSP/legacy");
%><!doctype html><title>jsp</title><p>hello from a JSP, <%= 6 * 7 %></p>
