// The launch URL: the EHR opens it with `iss` (and `launch` for an EHR launch); the service
// has already refused any `iss` not on the site's allow-list before this page was sent.
import { AppProblem, beginLaunch, readConfig } from "./smart.js";
import { showProblem } from "./views.js";

const config = readConfig();
beginLaunch(config).catch((error) => {
  showProblem(error instanceof AppProblem ? error : new AppProblem("unexpected", String(error && error.message)));
});
