// Starts Swagger UI on this gateway's OpenAPI document (/openapi.json, same origin). Loaded as a
// file, not inline, so the page's Content-Security-Policy allows no inline script.
'use strict';

window.addEventListener('DOMContentLoaded', function () {
    window.ui = window.SwaggerUIBundle({
        url: '/openapi.json',
        dom_id: '#swagger-ui',
        deepLinking: true,
        presets: [window.SwaggerUIBundle.presets.apis],
        layout: 'BaseLayout',
        // No badge fetched from validator.swagger.io: nothing leaves this origin.
        validatorUrl: null,
        // "Try it out" sends the Authorization / x-api-key headers set through "Authorize".
        persistAuthorization: false,
    });
});
