/* The API's reference page: Swagger UI, served from studio's own files (no CDN), reading /openapi.json. */
window.addEventListener("load", function () {
  "use strict";
  window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
