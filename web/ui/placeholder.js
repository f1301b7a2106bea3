// Placeholder script of the dashboard (replaced by the dashboard itself): proves scripts load
// under the Content-Security-Policy.
'use strict';
document.getElementById('placeholder-note').dataset.ready = 'yes';
