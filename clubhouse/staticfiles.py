"""Static files under content-hashed names, ES modules included (settings.STORAGES without DEBUG).

The web client is ES modules that import each other by relative path (`import { h } from
"../ui.js";`). Django rewrites url() in CSS by default; with `support_js_module_import_aggregation`
it rewrites those imports too, so a hashed module imports hashed modules: a page never mixes a
cached old module with a new one after a deployment. WhiteNoise serves the result and marks the
hashed names cacheable for ever.
"""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class HashedStaticFilesStorage(ManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
